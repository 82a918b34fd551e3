"""Blocking (DESIGN 6.6), with Instagram's meaning: the follows between the two go, both
ways; the blocker's account is absent for the blocked person (profile, posts, lists,
comments, the post and profile pages all answer as for an account that never was); neither
can follow, like, comment on or notify the other."""

import pytest
from django.test import Client

from accounts.models import Block, Follow, User
from feed.models import Comment, Post
from notifications.models import Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def make_post(author) -> Post:
    return Post.objects.create(author=author, caption="hi", image="posts/x.jpg", thumbnail="thumbs/x.jpg")


def page_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_block_is_idempotent_and_answers_the_profile(client_for):
    alice, bob = UserFactory(), UserFactory()
    client = client_for(alice)
    # when / then
    first = client.post(f"/api/users/{bob.username}/block")
    assert first.status_code == 201 and first.json()["username"] == bob.username
    assert first.json()["is_following"] is False
    assert client.post(f"/api/users/{bob.username}/block").status_code == 200
    assert Block.objects.filter(blocker=alice, blocked=bob).count() == 1
    assert client.delete(f"/api/users/{bob.username}/block").status_code == 200
    assert client.delete(f"/api/users/{bob.username}/block").status_code == 200
    assert not Block.objects.exists()


def test_blocking_yourself_or_nobody_is_refused(client_for):
    alice = UserFactory()
    client = client_for(alice)
    response = client.post(f"/api/users/{alice.username}/block")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert client.post("/api/users/nobody_here/block").status_code == 404
    assert client.post("/api/users/%20bad/block").status_code == 404
    assert not Block.objects.exists()


def test_a_block_removes_the_follows_both_ways_and_their_counts(client_for):
    # given: alice and bob follow each other
    alice, bob = UserFactory(), UserFactory()
    client_for(alice).post(f"/api/users/{bob.username}/follow")
    client_for(bob).post(f"/api/users/{alice.username}/follow")
    assert Follow.objects.count() == 2
    # when
    client_for(alice).post(f"/api/users/{bob.username}/block")
    # then
    assert not Follow.objects.exists()
    for user in User.objects.filter(pk__in=[alice.pk, bob.pk]):
        assert (user.follower_count, user.following_count) == (0, 0)
    profile = client_for(alice).get(f"/api/users/{bob.username}").json()
    assert (profile["follower_count"], profile["following_count"], profile["is_following"]) == (0, 0, False)
    # and lifting the block does not bring them back
    client_for(alice).delete(f"/api/users/{bob.username}/block")
    assert not Follow.objects.exists()


def test_the_blocker_is_absent_for_the_blocked_person_everywhere(client_for):
    # given: alice's post with a comment of hers on carol's post; bob will be blocked
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    post = make_post(alice)
    carols = make_post(carol)
    Comment.objects.create(post=carols, author=alice, body="alice was here")
    Comment.objects.create(post=carols, author=carol, body="carol too")
    client_for(alice).post(f"/api/users/{carol.username}/follow")
    client_for(carol).post(f"/api/users/{alice.username}/follow")
    bob_client = client_for(bob)
    missing_user = bob_client.get("/api/users/nobody_at_all").json()
    missing_post = bob_client.get("/api/posts/999999999").json()
    # when
    assert client_for(alice).post(f"/api/users/{bob.username}/block").status_code == 201
    # then: every way in answers as for an account and a post that do not exist
    for path in (
        f"/api/users/{alice.username}",
        f"/api/users/{alice.username}/posts",
        f"/api/users/{alice.username}/followers",
        f"/api/users/{alice.username}/following",
    ):
        response = bob_client.get(path)
        assert (response.status_code, response.json()) == (404, missing_user), path
    for response in (
        bob_client.post(f"/api/users/{alice.username}/follow"),
        bob_client.post(f"/api/users/{alice.username}/block"),
    ):
        assert (response.status_code, response.json()) == (404, missing_user)
    for response in (
        bob_client.get(f"/api/posts/{post.pk}"),
        bob_client.get(f"/api/posts/{post.pk}/comments"),
        bob_client.post(f"/api/posts/{post.pk}/like"),
        bob_client.post(f"/api/posts/{post.pk}/comments", {"body": "hey"}, format="json"),
    ):
        assert (response.status_code, response.json()) == (404, missing_post)
    # and she is in no list or search of his
    assert bob_client.get("/api/users", {"q": alice.username}).json()["results"] == []
    assert bob_client.get(f"/api/users/{carol.username}/followers").json()["results"] == []
    assert bob_client.get(f"/api/users/{carol.username}/following").json()["results"] == []
    comments = bob_client.get(f"/api/posts/{carols.pk}/comments").json()["results"]
    assert [c["body"] for c in comments] == ["carol too"]
    # and the pages are the not-found page
    pages = page_client(bob)
    assert pages.get(f"/u/{alice.username}").status_code == 404
    assert pages.get(f"/p/{post.pk}").status_code == 404
    # while others still see her
    assert client_for(carol).get(f"/api/users/{alice.username}").status_code == 200
    assert page_client(carol).get(f"/p/{post.pk}").status_code == 200


def test_the_blocker_still_sees_the_blocked_person_and_can_unblock(client_for):
    alice, bob = UserFactory(), UserFactory()
    client = client_for(alice)
    client.post(f"/api/users/{bob.username}/block")
    assert client.get(f"/api/users/{bob.username}").status_code == 200
    assert page_client(alice).get(f"/u/{bob.username}").status_code == 200
    # but neither follows nor reaches the other
    assert client.post(f"/api/users/{bob.username}/follow").status_code == 403
    # after the unblock, bob sees her again
    client.delete(f"/api/users/{bob.username}/block")
    assert client_for(bob).get(f"/api/users/{alice.username}").status_code == 200
    assert client_for(bob).post(f"/api/users/{alice.username}/follow").status_code == 201


def test_my_blocked_list_is_mine_newest_first(client_for):
    alice, bob, carol, dave = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    client = client_for(alice)
    client.post(f"/api/users/{bob.username}/block")
    client.post(f"/api/users/{carol.username}/block")
    client_for(dave).post(f"/api/users/{alice.username}/block")  # not hers
    # when
    page = client.get("/api/me/blocked", {"limit": 1})
    # then
    assert page.status_code == 200
    assert [u["username"] for u in page.json()["results"]] == [carol.username]
    second = client.get(page.json()["next"]).json()
    assert [u["username"] for u in second["results"]] == [bob.username] and second["next"] is None
    assert client_for(bob).get("/api/me/blocked").json()["results"] == []
    client.delete(f"/api/users/{carol.username}/block")
    assert [u["username"] for u in client.get("/api/me/blocked").json()["results"]] == [bob.username]


def test_notifications_from_before_a_block_leave_the_list(client_for):
    # given: bob followed alice (a follow notification), then she blocks him
    alice, bob = UserFactory(), UserFactory()
    client_for(bob).post(f"/api/users/{alice.username}/follow")
    assert Notification.objects.filter(recipient=alice, actor=bob).exists()
    # when
    client_for(alice).post(f"/api/users/{bob.username}/block")
    # then
    assert client_for(alice).get("/api/notifications").json()["results"] == []


def test_blocking_needs_a_signed_in_person(api_client):
    bob = UserFactory()
    assert api_client.post(f"/api/users/{bob.username}/block").status_code in (401, 403)
    assert api_client.get("/api/me/blocked").status_code in (401, 403)
    assert not Block.objects.exists()
