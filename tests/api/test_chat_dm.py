"""DESIGN 6.5 over REST: status codes, shapes and access of the new chat endpoints."""

import pytest
from django.test import override_settings

from accounts.models import Block
from chat.models import Message, Participant
from chat.services import conversation_open
from tests.factories import UserFactory, client_id, image_upload

pytestmark = pytest.mark.django_db


def accepted_direct(a, b) -> int:
    conversation, _ = conversation_open(creator=a, usernames=[b.username])
    Participant.objects.filter(conversation=conversation).update(accepted=True)
    return conversation.pk


def send(client, conversation: int, body: str = "hi", **extra) -> dict:
    response = client.post(
        f"/api/conversations/{conversation}/messages", {"body": body, "client_id": client_id(), **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_photo_is_sent_as_multipart_with_client_id_idempotency(client_for):
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    client = client_for(alice)
    cid = client_id()
    url = f"/api/conversations/{conversation}/messages"
    first = client.post(url, {"image": image_upload(), "client_id": cid, "body": "look"}, format="multipart")
    again = client.post(url, {"image": image_upload(), "client_id": cid}, format="multipart")
    assert first.status_code == 201, first.content
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    data = first.json()
    assert data["kind"] == "image" and data["body"] == "look"
    assert data["image_url"].endswith(".jpg") and data["thumbnail_url"].endswith(".jpg")
    not_image = client.post(
        url, {"image": image_upload(name="x.jpg", fmt="BMP"), "client_id": client_id()}, format="multipart"
    )
    assert not_image.status_code == 400 and "image" in not_image.json()["fields"]


def test_a_json_send_takes_reply_to_and_refuses_one_from_elsewhere(client_for):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    other = accepted_direct(alice, carol)
    client = client_for(alice)
    original = send(client, conversation, "q")
    elsewhere = send(client, other, "x")
    assert send(client_for(bob), conversation, "a", reply_to=original["id"])["reply_to"] == original["id"]
    response = client.post(
        f"/api/conversations/{conversation}/messages",
        {"body": "a", "client_id": client_id(), "reply_to": elsewhere["id"]},
        format="json",
    )
    assert response.status_code == 400 and "reply_to" in response.json()["fields"]


def test_edit_and_unsend_by_the_sender_only(client_for):
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    message = send(client_for(alice), conversation, "helo")
    edited = client_for(alice).patch(f"/api/messages/{message['id']}", {"body": "hello"}, format="json")
    assert edited.status_code == 200 and edited.json()["body"] == "hello" and edited.json()["edited_at"]
    assert client_for(bob).patch(f"/api/messages/{message['id']}", {"body": "x"}, format="json").status_code == 404
    assert client_for(bob).delete(f"/api/messages/{message['id']}").status_code == 404
    assert client_for(alice).delete(f"/api/messages/{message['id']}").status_code == 204
    page = client_for(bob).get(f"/api/conversations/{conversation}/messages").json()["results"]
    assert page[0]["deleted"] is True and page[0]["body"] == "" and page[0]["image_url"] is None
    blank = client_for(alice).patch(f"/api/messages/{message['id']}", {"body": "  "}, format="json")
    assert blank.status_code == 400


def test_reactions_over_rest(client_for):
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    message = send(client_for(alice), conversation)
    url = f"/api/messages/{message['id']}/reactions"
    response = client_for(bob).post(url, {"emoji": "❤️"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"conversation": conversation, "message": message["id"], "user": bob.pk, "emoji": "❤️"}
    page = client_for(alice).get(f"/api/conversations/{conversation}/messages").json()["results"]
    assert page[0]["reactions"] == [{"emoji": "❤️", "users": [bob.pk]}]
    assert client_for(bob).post(url, {"emoji": "not one"}, format="json").status_code == 400
    assert client_for(bob).delete(url).json()["emoji"] is None
    assert client_for(UserFactory()).post(url, {"emoji": "❤️"}, format="json").status_code == 404


def test_requests_box_accept_and_delete(client_for):
    stranger, me = UserFactory(), UserFactory()
    opened = client_for(stranger).post("/api/conversations", {"usernames": [me.username]}, format="json").json()
    send(client_for(stranger), opened["id"], "hello?")
    mine = client_for(me)
    assert mine.get("/api/conversations").json()["results"] == []
    (request,) = mine.get("/api/conversations?box=requests").json()["results"]
    assert request["status"] == "request" and request["id"] == opened["id"]
    assert mine.get("/api/conversations?box=nope").status_code == 400
    accepted = mine.post(f"/api/conversations/{opened['id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert [c["id"] for c in mine.get("/api/conversations").json()["results"]] == [opened["id"]]
    assert mine.delete(f"/api/conversations/{opened['id']}").status_code == 204
    assert mine.get("/api/conversations").json()["results"] == []


def test_mute_title_participants_and_leave(client_for):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    group = client_for(alice).post("/api/conversations", {"usernames": [bob.username, carol.username]}, format="json")
    group = group.json()
    base = f"/api/conversations/{group['id']}"
    assert client_for(bob).post(f"{base}/mute").json()["muted"] is True
    assert client_for(bob).delete(f"{base}/mute").json()["muted"] is False
    renamed = client_for(bob).patch(base, {"title": "Weekend"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["title"] == "Weekend" and renamed.json()["is_group"]
    assert client_for(bob).patch(base, {"title": "x" * 101}, format="json").status_code == 400
    dave = UserFactory()
    added = client_for(carol).post(f"{base}/participants", {"usernames": [dave.username]}, format="json")
    assert added.status_code == 200 and dave.pk in {u["id"] for u in added.json()["participants"]}
    assert client_for(alice).delete(f"{base}/participants/{bob.username}").status_code == 403
    assert client_for(bob).delete(f"{base}/participants/{bob.username}").status_code == 204
    assert client_for(bob).get(f"{base}/messages").status_code == 404


def test_a_block_refuses_a_group_of_both_and_hides_their_messages(client_for):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    group = client_for(carol).post("/api/conversations", {"usernames": [alice.username, bob.username]}, format="json")
    group = group.json()["id"]
    Block.objects.create(blocker=alice, blocked=bob)
    send(client_for(bob), group, "from bob")
    assert client_for(alice).get(f"/api/conversations/{group}/messages").json()["results"] == []
    again = client_for(carol).post("/api/conversations", {"usernames": [alice.username, bob.username]}, format="json")
    assert again.status_code == 403


def test_someone_elses_message_and_conversation_are_404_on_every_new_endpoint(client_for):
    alice, bob, mallory = UserFactory(), UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    message = send(client_for(alice), conversation)["id"]
    client = client_for(mallory)
    for target_c, target_m in ((conversation, message), (conversation + 10_000, message + 10_000)):
        responses = [
            client.patch(f"/api/messages/{target_m}", {"body": "x"}, format="json"),
            client.delete(f"/api/messages/{target_m}"),
            client.post(f"/api/messages/{target_m}/reactions", {"emoji": "❤️"}, format="json"),
            client.delete(f"/api/messages/{target_m}/reactions"),
            client.post(f"/api/conversations/{target_c}/accept"),
            client.delete(f"/api/conversations/{target_c}"),
            client.post(f"/api/conversations/{target_c}/mute"),
            client.patch(f"/api/conversations/{target_c}", {"title": "x"}, format="json"),
            client.post(
                f"/api/conversations/{target_c}/participants", {"usernames": [mallory.username]}, format="json"
            ),
            client.delete(f"/api/conversations/{target_c}/participants/{mallory.username}"),
        ]
        for response in responses:
            assert response.status_code == 404, (response.request, response.content)
    assert Message.objects.get(pk=message).body == "hi"
    assert not Participant.objects.filter(user=mallory).exists()


@override_settings(IMAGE_MAX_BYTES=1000)
def test_an_oversized_photo_is_413(client_for):
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    response = client_for(alice).post(
        f"/api/conversations/{conversation}/messages",
        {"image": image_upload(size=(400, 400)), "client_id": client_id()},
        format="multipart",
    )
    assert response.status_code == 413
