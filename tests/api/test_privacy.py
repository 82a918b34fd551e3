"""Private accounts and follow requests (DESIGN 6.1) over REST, in process."""

import pytest

from accounts.models import Block, Follow, FollowRequest, User
from feed.models import Post
from notifications.models import Notification
from realtime.models import Event
from tests.factories import UserFactory, image_upload

pytestmark = pytest.mark.django_db


def make_post(author, caption: str = "") -> Post:
    return Post.objects.create(author=author, caption=caption, image="posts/x.jpg", thumbnail="thumbs/x.jpg")


@pytest.fixture
def owner():
    return UserFactory(is_private=True)


def verbs_of(user) -> list[str]:
    return list(Notification.objects.filter(recipient=user).order_by("id").values_list("verb", flat=True))


def test_profile_shows_privacy_and_follow_status(owner, user, client_for):
    body = client_for(user).get(f"/api/users/{owner.username}").json()
    assert body["is_private"] is True
    assert body["follow_status"] == "none" and body["is_following"] is False
    assert body["post_count"] == 0  # the profile with its counts stays visible


def test_patch_me_turns_the_account_private_and_back(user, client_for):
    client = client_for(user)
    assert client.patch("/api/me", {"is_private": True}, format="json").json()["is_private"] is True
    assert User.objects.get(pk=user.pk).is_private
    assert client.get(f"/api/users/{user.username}").json()["is_private"] is True
    assert client.patch("/api/me", {"is_private": False}, format="json").json()["is_private"] is False
    assert client.patch("/api/me", {"is_private": "maybe"}, format="json").status_code == 400


def test_following_a_private_account_asks_first_and_notifies_the_owner(owner, user, client_for):
    client = client_for(user)
    first = client.post(f"/api/users/{owner.username}/follow")
    assert first.status_code == 202 and first.json() == {"status": "requested"}
    again = client.post(f"/api/users/{owner.username}/follow")
    assert again.status_code == 200 and again.json() == {"status": "requested"}
    assert not Follow.objects.filter(follower=user, followee=owner).exists()
    assert FollowRequest.objects.filter(requester=user, target=owner).count() == 1
    assert verbs_of(owner) == ["follow_request"]
    event = Event.objects.filter(user=owner).order_by("-seq").first()
    assert event.kind == "notification.new"
    profile = client.get(f"/api/users/{owner.username}").json()
    assert profile["follow_status"] == "requested" and profile["is_following"] is False
    assert client_for(owner).get(f"/api/users/{owner.username}").json()["follower_count"] == 0


def test_request_list_is_the_owners_newest_first(owner, client_for):
    first, second = UserFactory(), UserFactory()
    client_for(first).post(f"/api/users/{owner.username}/follow")
    client_for(second).post(f"/api/users/{owner.username}/follow")
    body = client_for(owner).get("/api/me/follow-requests").json()
    assert [row["user"]["username"] for row in body["results"]] == [second.username, first.username]
    assert set(body["results"][0]) == {"id", "user", "created_at"}
    assert set(body["results"][0]["user"]) == {"id", "username", "full_name", "avatar_url"}
    assert body["next"] is None
    assert client_for(first).get("/api/me/follow-requests").json()["results"] == []


def test_accept_makes_the_follow_and_tells_the_requester(owner, user, client_for):
    client_for(user).post(f"/api/users/{owner.username}/follow")
    request_id = FollowRequest.objects.get(requester=user).pk
    # someone else (the requester too) cannot accept it
    assert client_for(user).post(f"/api/follow-requests/{request_id}/accept").status_code == 404
    assert client_for(UserFactory()).post(f"/api/follow-requests/{request_id}/decline").status_code == 404
    assert client_for(owner).post(f"/api/follow-requests/{request_id}/accept").status_code == 204
    assert Follow.objects.filter(follower=user, followee=owner).exists()
    assert not FollowRequest.objects.exists()
    assert verbs_of(user) == ["follow_accept"]
    assert verbs_of(owner) == ["follow_request"]  # not also "follow": the owner accepted it
    profile = client_for(user).get(f"/api/users/{owner.username}").json()
    assert profile["follow_status"] == "following" and profile["follower_count"] == 1
    assert client_for(owner).post(f"/api/follow-requests/{request_id}/accept").status_code == 404


def test_decline_drops_the_request(owner, user, client_for):
    client_for(user).post(f"/api/users/{owner.username}/follow")
    request_id = FollowRequest.objects.get(requester=user).pk
    assert client_for(owner).post(f"/api/follow-requests/{request_id}/decline").status_code == 204
    assert not FollowRequest.objects.exists() and not Follow.objects.exists()
    assert client_for(user).get(f"/api/users/{owner.username}").json()["follow_status"] == "none"


def test_delete_withdraws_a_request(owner, user, client_for):
    client = client_for(user)
    client.post(f"/api/users/{owner.username}/follow")
    response = client.delete(f"/api/users/{owner.username}/follow")
    assert response.status_code == 200 and response.json()["follow_status"] == "none"
    assert not FollowRequest.objects.exists()


def test_making_the_account_public_accepts_every_pending_request(owner, client_for):
    requesters = [UserFactory(), UserFactory()]
    for requester in requesters:
        client_for(requester).post(f"/api/users/{owner.username}/follow")
    body = client_for(owner).patch("/api/me", {"is_private": False}, format="json").json()
    assert body["follower_count"] == 2
    assert set(Follow.objects.filter(followee=owner).values_list("follower_id", flat=True)) == {
        r.pk for r in requesters
    }
    assert not FollowRequest.objects.exists()
    for requester in requesters:
        assert verbs_of(requester) == ["follow_accept"]


def test_following_a_public_account_is_immediate(user, client_for):
    public = UserFactory()
    response = client_for(user).post(f"/api/users/{public.username}/follow")
    assert response.status_code == 201 and response.json()["follow_status"] == "following"


def test_a_blocked_user_cannot_request(owner, user, client_for):
    Block.objects.create(blocker=owner, blocked=user)
    # (the blocker's account does not exist for the blocked person: DESIGN 6.6)
    assert client_for(user).post(f"/api/users/{owner.username}/follow").status_code == 404
    assert not FollowRequest.objects.exists()


# --- the doors ---------------------------------------------------------------------------


def private_doors(owner, post_id: int) -> list[tuple[str, str]]:
    return [
        ("get", f"/api/users/{owner.username}/posts"),
        ("get", f"/api/users/{owner.username}/followers"),
        ("get", f"/api/users/{owner.username}/following"),
        ("get", f"/api/posts/{post_id}"),
        ("get", f"/api/posts/{post_id}/comments"),
        ("post", f"/api/posts/{post_id}/comments"),
        ("post", f"/api/posts/{post_id}/like"),
    ]


def test_a_stranger_gets_403_private_at_every_door(owner, user, client_for):
    post = make_post(owner, "secret")
    client = client_for(user)
    for method, path in private_doors(owner, post.pk):
        response = getattr(client, method)(path, {"body": "hi"} if method == "post" else None, format="json")
        assert response.status_code == 403, (method, path)
        assert response.json()["code"] == "private", (method, path)
    assert client.get("/api/feed").json()["results"] == []
    assert Notification.objects.filter(recipient=owner).count() == 0


def test_a_pending_request_opens_nothing(owner, user, client_for):
    post = make_post(owner)
    client = client_for(user)
    client.post(f"/api/users/{owner.username}/follow")
    assert client.get(f"/api/posts/{post.pk}").json()["code"] == "private"


def test_an_approved_follower_and_the_owner_see_everything(owner, user, client_for):
    post = make_post(owner, "for friends")
    Follow.objects.create(follower=user, followee=owner)
    for viewer in (user, owner):
        client = client_for(viewer)
        for method, path in private_doors(owner, post.pk):
            response = getattr(client, method)(path, {"body": "hi"} if method == "post" else None, format="json")
            assert response.status_code in (200, 201), (viewer, method, path, response.content)
    assert [p["id"] for p in client_for(user).get("/api/feed").json()["results"]] == [post.pk]


def test_a_public_account_blocking_someone_hides_its_posts_as_if_gone(user, client_for):
    author = UserFactory()
    post = make_post(author)
    Block.objects.create(blocker=author, blocked=user)
    response = client_for(user).get(f"/api/posts/{post.pk}")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_media_names_are_unguessable(user, client_for, settings):
    client = client_for(user)
    urls = []
    for _ in range(2):
        response = client.post("/api/posts", {"image": image_upload(name="holiday.jpg")}, format="multipart")
        urls.append(response.json()["image_url"])
    names = [url.rsplit("/", 1)[1] for url in urls]
    assert names[0] != names[1]
    for name in names:
        stem = name.split(".")[0]
        assert len(stem) >= 32 and "holiday" not in name and user.username not in name
