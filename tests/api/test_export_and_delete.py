"""A person's own data: the export (a zip, made off the request path, downloadable once) and
deleting the account (DESIGN 6.6)."""

import io
import json
import zipfile

import pytest
from django.db import connection

from accounts import export
from accounts.models import Credential, ExportJob, Follow, User
from accounts.services import follow_create
from chat.models import Conversation, Message
from chat.services import conversation_open, message_send
from feed.models import Hashtag, Post
from feed.services import comment_create, like_create, post_create, save_create
from notifications.models import Notification
from tests.api.test_sessions import login, token_client
from tests.factories import PASSWORD, UserFactory, image_upload


@pytest.fixture
def alice_world(db, django_capture_on_commit_callbacks):
    """alice with a post, a comment and a like on bob's post, follows both ways, a DM
    conversation with bob, and a notification."""
    alice = UserFactory(username="alice", email="alice@example.com", bio="hello there")
    bob = UserFactory(username="bob")
    with django_capture_on_commit_callbacks(execute=True):
        alices_post = post_create(author=alice, image=image_upload(), caption="alice's #sunrise")
        bobs_post = post_create(author=bob, image=image_upload(color=(0, 90, 200)), caption="bob's lake")
        like_create(user=alice, post_id=bobs_post.pk)
        save_create(user=alice, post_id=bobs_post.pk)
        comment_create(author=alice, post_id=bobs_post.pk, body="lovely water")
        like_create(user=bob, post_id=alices_post.pk)
        follow_create(follower=alice, followee=bob)
        follow_create(follower=bob, followee=alice)
        conversation, _ = conversation_open(creator=alice, usernames=["bob"])
        message_send(sender=alice, conversation_id=conversation.pk, body="the secret plan", client_id="a1")
        message_send(sender=bob, conversation_id=conversation.pk, body="count me in", client_id="b1")
    return {
        "alice": alice,
        "bob": bob,
        "alices_post": alices_post,
        "bobs_post": bobs_post,
        "conversation": conversation,
    }


def make_export(client) -> tuple[int, dict]:
    response = client.post("/api/me/export")
    assert response.status_code == 202, response.content
    export_id = response.json()["id"]
    assert export.wait_idle()
    status = client.get(f"/api/me/export/{export_id}")
    assert status.status_code == 200
    return export_id, status.json()


@pytest.mark.django_db(transaction=True)
def test_the_export_is_a_zip_of_the_persons_data_and_downloads_once(alice_world, settings, tmp_path):
    # given
    settings.EXPORT_ROOT = tmp_path / "exports"
    _, token = login("alice")
    client = token_client(token)
    # when
    export_id, status = make_export(client)
    # then
    assert status["status"] == "ready" and status["url"].endswith(f"/api/me/export/{export_id}/download")
    download = client.get(status["url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = set(archive.namelist())
    assert {"profile.json", "follows.json", "posts.json", "comments.json", "likes.json", "messages.json"} <= names
    assert "notifications.json" in names and "sessions.json" in names
    profile = json.loads(archive.read("profile.json"))
    assert profile["username"] == "alice" and profile["email"] == "alice@example.com"
    posts = json.loads(archive.read("posts.json"))
    assert [p["caption"] for p in posts] == ["alice's #sunrise"]
    assert [s["post_author"] for s in json.loads(archive.read("saved.json"))] == ["bob"]
    assert posts[0]["image"] in names and archive.read(posts[0]["image"])[:2] == b"\xff\xd8"  # a JPEG
    assert [c["body"] for c in json.loads(archive.read("comments.json"))] == ["lovely water"]
    assert [like["post_author"] for like in json.loads(archive.read("likes.json"))] == ["bob"]
    follows = json.loads(archive.read("follows.json"))
    assert [f["username"] for f in follows["following"]] == ["bob"] == [f["username"] for f in follows["followers"]]
    [conversation] = json.loads(archive.read("messages.json"))
    assert [(m["sender"], m["body"]) for m in conversation["messages"]] == [
        ("alice", "the secret plan"),
        ("bob", "count me in"),
    ]
    notifications = json.loads(archive.read("notifications.json"))
    assert {n["verb"] for n in notifications} >= {"like", "follow"}
    # once only: the file is gone and the job says so
    assert client.get(status["url"]).status_code == 404
    assert client.get(f"/api/me/export/{export_id}").json() == {"status": "downloaded", "url": None}
    assert not list((tmp_path / "exports").glob("*.zip"))


@pytest.mark.django_db(transaction=True)
def test_someone_elses_export_is_404(alice_world, settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    _, alice = login("alice")
    _, bob = login("bob")
    export_id, _ = make_export(token_client(alice))
    assert token_client(bob).get(f"/api/me/export/{export_id}").status_code == 404
    assert token_client(bob).get(f"/api/me/export/{export_id}/download").status_code == 404
    assert ExportJob.objects.get(pk=export_id).status == "ready"


@pytest.mark.django_db(transaction=True)
def test_a_failed_export_says_failed(alice_world, settings, tmp_path, monkeypatch):
    settings.EXPORT_ROOT = tmp_path / "exports"
    _, token = login("alice")

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(export, "_add_account", broken)
    _, status = make_export(token_client(token))
    assert status == {"status": "failed", "url": None}


@pytest.mark.django_db
def test_delete_needs_the_password(alice_world):
    _, token = login("alice")
    response = token_client(token).delete("/api/me", {"password": "not-my-password-3"}, format="json")
    assert response.status_code == 400 and "password" in response.json()["fields"]
    assert User.objects.filter(username="alice").exists()


@pytest.mark.django_db(transaction=True)
def test_delete_removes_the_account_and_what_is_only_theirs(alice_world, settings, tmp_path):
    # given
    bob, bobs_post = alice_world["bob"], alice_world["bobs_post"]
    alices_post = alice_world["alices_post"]
    image_names = [alices_post.image.name, alices_post.thumbnail.name]
    storage = alices_post.image.storage
    browser, token = login("alice")
    # when
    response = token_client(token).delete("/api/me", {"password": PASSWORD}, format="json")
    # then: gone, with their credentials, posts, files, likes and comments
    assert response.status_code == 204
    assert not User.objects.filter(username="alice").exists()
    assert token_client(token).get("/api/me").status_code == 401
    assert browser.get("/api/me").status_code == 401
    assert not Credential.objects.exists() or set(Credential.objects.values_list("user_id", flat=True)) == {bob.pk}
    assert not Post.objects.filter(pk=alices_post.pk).exists()
    assert not Hashtag.objects.filter(name="sunrise", post_count__gt=0).exists()
    assert not any(storage.exists(name) for name in image_names)
    bobs_post.refresh_from_db()
    assert (bobs_post.like_count, bobs_post.comment_count) == (0, 0)
    bob.refresh_from_db()
    assert (bob.follower_count, bob.following_count) == (0, 0)
    assert not Follow.objects.exists()
    assert not Notification.objects.filter(actor__username="alice").exists()
    # and bob's profile no longer counts alice
    assert token_client(login("bob")[1]).get("/api/users/bob").json()["follower_count"] == 0


@pytest.mark.django_db(transaction=True)
def test_their_messages_in_others_conversations_stay_as_from_a_deleted_account(alice_world):
    # given
    conversation = alice_world["conversation"]
    _, token = login("alice")
    # when
    assert token_client(token).delete("/api/me", {"password": PASSWORD}, format="json").status_code == 204
    # then: bob still has the conversation; alice's message has no sender and no body
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    _, bob = login("bob")
    page = token_client(bob).get(f"/api/conversations/{conversation.pk}/messages").json()["results"]
    by_body = {m["body"]: m for m in page}
    assert "the secret plan" not in by_body
    gone = [m for m in page if m["sender"] is None]
    assert len(gone) == 1 and gone[0]["deleted"] is True and gone[0]["body"] == ""
    assert by_body["count me in"]["sender"]["username"] == "bob"
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM chat_message")
        assert len(cursor.fetchall()) == 2
    assert [(m.body, m.deleted) for m in Message.objects.filter(sender__isnull=True)] == [("", True)]


@pytest.mark.django_db
def test_export_and_delete_need_authentication(api_client):
    assert api_client.post("/api/me/export").status_code == 401
    assert api_client.get("/api/me/export/1").status_code == 401
    assert api_client.delete("/api/me", {"password": "x"}, format="json").status_code == 401
