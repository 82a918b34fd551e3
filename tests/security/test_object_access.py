"""Object access: nobody reads or changes what is not theirs, over REST or the socket; a block either way separates two people."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Block
from chat.models import Message, Participant
from feed.models import Comment, Post
from notifications.models import Notification
from tests.factories import UserFactory, client_id, image_upload
from tests.security.helpers import direct_conversation, raw_client

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("blocker", ["alice", "bob"])
async def test_a_block_either_way_hides_presence_and_typing(blocker, ws_cleanup):
    from asgiref.sync import sync_to_async

    from tests.ws_helpers import make_user_with_token, open_conversation, open_socket, send

    # given: alice and bob share a direct conversation, then one blocks the other
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    pair = {"alice": (alice, bob), "bob": (bob, alice)}[blocker]
    await sync_to_async(Block.objects.create)(blocker=pair[0], blocked=pair[1])
    bob_tab, _ = await open_socket(bob_token)
    # when: alice comes online and types
    alice_tab, _ = await open_socket(alice_token)
    await send(alice_tab, {"type": "typing", "conversation": conversation})
    await alice_tab.disconnect()
    # then: bob hears nothing of it
    assert await bob_tab.receive_nothing(timeout=0.5)
    await bob_tab.disconnect()


def test_an_outsider_cannot_tell_someone_elses_conversation_from_a_missing_one():
    # given: alice and bob talk; mallory is not in it
    alice, bob, mallory = UserFactory(), UserFactory(), UserFactory()
    conversation = direct_conversation(alice, bob)
    message = (
        raw_client(alice)
        .post(
            f"/api/conversations/{conversation}/messages", {"body": "secret", "client_id": client_id()}, format="json"
        )
        .json()
    )
    client = raw_client(mallory)
    missing = conversation + 10_000
    # when / then: every way in answers exactly as for a conversation that does not exist
    for target in (conversation, missing):
        responses = [
            client.get(f"/api/conversations/{target}/messages"),
            client.post(
                f"/api/conversations/{target}/messages", {"body": "hi", "client_id": client_id()}, format="json"
            ),
            client.post(f"/api/conversations/{target}/read", {"message_id": message["id"]}, format="json"),
        ]
        for response in responses:
            assert response.status_code == 404
            assert response.json() == {"detail": "No such conversation.", "code": "not_found"}
    assert client.get("/api/conversations").json()["results"] == []
    assert Client().get(f"/inbox/{conversation}").status_code == 302  # the page needs a login
    page = Client()
    page.force_login(mallory)
    assert page.get(f"/inbox/{conversation}").status_code == 404
    assert Message.objects.filter(conversation_id=conversation).count() == 1
    assert Participant.objects.get(conversation_id=conversation, user=bob).last_read_message_id == 0


def test_a_participant_cannot_mark_read_with_a_message_of_another_conversation():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    mine = direct_conversation(alice, bob)
    theirs = direct_conversation(bob, carol)
    other = (
        raw_client(bob)
        .post(f"/api/conversations/{theirs}/messages", {"body": "x", "client_id": client_id()}, format="json")
        .json()
    )
    response = raw_client(alice).post(f"/api/conversations/{mine}/read", {"message_id": other["id"]}, format="json")
    assert response.status_code == 400
    assert Participant.objects.get(conversation_id=mine, user=alice).last_read_message_id == 0


def test_a_client_id_is_per_sender_so_it_cannot_fetch_someone_elses_message():
    # given: bob sent a message with a known client_id
    alice, bob = UserFactory(), UserFactory()
    conversation = direct_conversation(alice, bob)
    shared = client_id()
    raw_client(bob).post(
        f"/api/conversations/{conversation}/messages", {"body": "bob's", "client_id": shared}, format="json"
    )
    # when: alice sends with the same client_id
    response = raw_client(alice).post(
        f"/api/conversations/{conversation}/messages", {"body": "alice's", "client_id": shared}, format="json"
    )
    # then: a new message of hers, not bob's returned as "the original"
    assert response.status_code == 201
    assert response.json()["sender"]["id"] == alice.pk and response.json()["body"] == "alice's"


def test_notifications_are_only_ever_the_recipients():
    # given: bob has a notification; alice has none
    alice, bob = UserFactory(), UserFactory()
    raw_client(alice).post(f"/api/users/{bob.username}/follow")
    assert Notification.objects.filter(recipient=bob).count() == 1
    client = raw_client(alice)
    # when
    listed = client.get("/api/notifications").json()["results"]
    marked = client.post("/api/notifications/read", {"up_to": 2**63 - 1}, format="json").json()
    # then
    assert listed == [] and marked == {"updated": 0}
    assert Notification.objects.get(recipient=bob).read is False


def test_only_the_author_deletes_a_post_and_only_its_authors_delete_a_comment():
    # given: alice's post with a comment by bob; mallory is a stranger
    alice, bob, mallory = UserFactory(), UserFactory(), UserFactory()
    post = raw_client(alice).post("/api/posts", {"image": image_upload()}, format="multipart").json()
    comment = raw_client(bob).post(f"/api/posts/{post['id']}/comments", {"body": "nice"}, format="json").json()
    second = raw_client(bob).post(f"/api/posts/{post['id']}/comments", {"body": "again"}, format="json").json()
    # when / then: mallory (and bob, for the post) are refused
    assert raw_client(mallory).delete(f"/api/posts/{post['id']}").status_code == 403
    assert raw_client(bob).delete(f"/api/posts/{post['id']}").status_code == 403
    assert raw_client(mallory).delete(f"/api/comments/{comment['id']}").status_code == 403
    assert Post.objects.filter(pk=post["id"]).exists() and Comment.objects.count() == 2
    # the comment's author and the post's author may
    assert raw_client(bob).delete(f"/api/comments/{comment['id']}").status_code == 204
    assert raw_client(alice).delete(f"/api/comments/{second['id']}").status_code == 204
    assert raw_client(alice).delete(f"/api/posts/{post['id']}").status_code == 204


@pytest.mark.parametrize("direction", ["blocked_by_target", "blocking_target"])
def test_a_block_either_way_stops_follow_like_comment_and_direct_messages(direction):
    # given: alice and bob, with a post and a direct conversation from before the block
    alice, bob = UserFactory(), UserFactory()
    post = raw_client(bob).post("/api/posts", {"image": image_upload()}, format="multipart").json()
    conversation = direct_conversation(alice, bob)
    if direction == "blocked_by_target":
        Block.objects.create(blocker=bob, blocked=alice)
    else:
        Block.objects.create(blocker=alice, blocked=bob)
    client = raw_client(alice)
    # when / then: refused (and to the blocked person, bob's account and post do not exist)
    refused = 404 if direction == "blocked_by_target" else 403
    assert client.post(f"/api/users/{bob.username}/follow").status_code == refused
    assert client.post(f"/api/posts/{post['id']}/like").status_code == refused
    assert client.post(f"/api/posts/{post['id']}/comments", {"body": "hey"}, format="json").status_code == refused
    assert client.post("/api/conversations", {"usernames": [bob.username]}, format="json").status_code == 403
    assert (
        client.post(
            f"/api/conversations/{conversation}/messages", {"body": "hi", "client_id": client_id()}, format="json"
        ).status_code
        == 403
    )
    assert (
        raw_client(bob)
        .post(f"/api/conversations/{conversation}/messages", {"body": "hi", "client_id": client_id()}, format="json")
        .status_code
        == 403
    )
    # and a mention in a comment elsewhere does not notify across the block
    other = raw_client(alice).post("/api/posts", {"image": image_upload()}, format="multipart").json()
    client.post(f"/api/posts/{other['id']}/comments", {"body": f"@{bob.username} look"}, format="json")
    assert not Notification.objects.filter(recipient=bob).exists()
    assert not Notification.objects.filter(recipient=alice, actor=bob).exists()


def test_a_group_with_someone_who_blocked_you_cannot_be_opened():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    Block.objects.create(blocker=carol, blocked=alice)
    response = raw_client(alice).post(
        "/api/conversations", {"usernames": [bob.username, carol.username]}, format="json"
    )
    assert response.status_code == 403
    assert not Participant.objects.filter(user=carol).exists()


def test_a_deactivated_account_is_gone_from_every_lookup():
    alice, ghost = UserFactory(), UserFactory()
    ghost.is_active = False
    ghost.save()
    client = raw_client(alice)
    assert client.get(f"/api/users/{ghost.username}").status_code == 404
    assert client.post(f"/api/users/{ghost.username}/follow").status_code == 404
    assert client.post("/api/conversations", {"usernames": [ghost.username]}, format="json").status_code == 400
    assert client.get("/api/users", {"q": ghost.username}).json()["results"] == []


@pytest.mark.django_db(transaction=True)
async def test_socket_frames_on_someone_elses_conversation_are_not_found_and_reach_nobody(ws_cleanup):
    from tests.ws_helpers import make_user_with_token, open_conversation, open_socket, receive_json, send, send_message

    # given: alice and bob talk; mallory has a socket
    alice, _ = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    mallory, mallory_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    message = await send_message(alice, conversation, "secret")
    bob_tab, _ = await open_socket(bob_token)
    tab, _ = await open_socket(mallory_token)
    # when: mallory tries each frame on it
    frames = [
        {"type": "message.send", "ref": "s", "conversation": conversation, "body": "hi", "client_id": client_id()},
        {"type": "message.read", "ref": "r", "conversation": conversation, "message_id": message.pk},
        {"type": "typing", "ref": "t", "conversation": conversation},
    ]
    for frame in frames:
        await send(tab, frame)
        reply = await receive_json(tab)
        # then
        assert reply == {"type": "error", "ref": frame["ref"], "code": "not_found", "detail": "No such conversation."}
    assert await bob_tab.receive_nothing(timeout=0.3)
    # and a replay from the start holds none of their events
    await send(tab, {"type": "resume", "after": 0})
    assert (await receive_json(tab))["type"] == "resumed"
    await tab.disconnect()
    await bob_tab.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_logged_out_token_opens_no_socket(ws_cleanup):
    from asgiref.sync import sync_to_async

    from tests.ws_helpers import communicator, make_user_with_token, receive_close

    # given: a token, revoked by logout over REST
    user, token = await make_user_with_token()

    @sync_to_async
    def logout():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client.post("/api/auth/logout").status_code

    assert await logout() == 204
    # when
    comm = communicator(token=token)
    connected, _ = await comm.connect(timeout=3)
    # then: accepted only to be told 4401
    assert connected
    assert await receive_close(comm) == 4401


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://localhost.evil.example",
        "http://evil.example/localhost",
        "http://evil.example#@localhost",
        "file://localhost",
        "chrome-extension://localhost",
        "",
    ],
)
async def test_a_page_elsewhere_cannot_ride_the_victims_session_cookie(origin, ws_cleanup):
    from asgiref.sync import sync_to_async

    from tests.ws_helpers import communicator

    # given: the victim's session cookie, sent by the browser from a page on another origin
    @sync_to_async
    def session_cookie():
        client = Client()
        client.force_login(UserFactory())
        return client.cookies["sessionid"].value

    cookie = await session_cookie()
    comm = communicator(headers=[(b"origin", origin.encode()), (b"cookie", f"sessionid={cookie}".encode())])
    # when
    connected, code = await comm.connect(timeout=3)
    # then: the handshake is refused outright
    assert not connected and code == 1008


@pytest.mark.parametrize("blocker", ["author", "reader"])
def test_a_block_either_way_takes_the_author_out_of_the_feed(blocker):
    # given: bob followed alice before a block between them
    alice, bob = UserFactory(), UserFactory()
    assert raw_client(bob).post(f"/api/users/{alice.username}/follow").status_code == 201
    post = raw_client(alice).post("/api/posts", {"image": image_upload()}, format="multipart").json()
    assert [p["id"] for p in raw_client(bob).get("/api/feed").json()["results"]] == [post["id"]]
    # when
    if blocker == "author":
        Block.objects.create(blocker=alice, blocked=bob)
    else:
        Block.objects.create(blocker=bob, blocked=alice)
    # then
    assert raw_client(bob).get("/api/feed").json()["results"] == []
    assert [p["id"] for p in raw_client(alice).get("/api/feed").json()["results"]] == [post["id"]]
