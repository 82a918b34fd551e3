import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from accounts.models import Block, Follow, User
from feed import fanout
from feed.models import Comment, Like, Post
from notifications.models import Notification
from tests.factories import UserFactory, image_upload

POST_FIELDS = {
    "id",
    "author",
    "image_url",
    "thumbnail_url",
    "images",
    "caption",
    "created_at",
    "edited_at",
    "like_count",
    "comment_count",
    "liked_by_me",
    "saved_by_me",
}
BRIEF_FIELDS = {"id", "username", "full_name", "avatar_url"}


def create_post(client, caption: str = "", **image_kwargs) -> dict:
    response = client.post(
        "/api/posts", {"image": image_upload(**image_kwargs), "caption": caption}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()


def make_post(author, caption: str = "") -> Post:
    """A post row without going through the API (for list and query-count tests)."""
    post = Post.objects.create(author=author, caption=caption, image="posts/x.jpg", thumbnail="thumbs/x.jpg")
    return post


# --- create ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_post_returns_the_post_and_stores_jpeg_and_thumbnail(user, client_for, settings):
    # when
    body = create_post(client_for(user), caption="sunset", fmt="PNG", size=(800, 600))
    # then
    assert set(body) == POST_FIELDS
    assert set(body["author"]) == BRIEF_FIELDS and body["author"]["id"] == user.pk
    assert body["caption"] == "sunset"
    assert (body["like_count"], body["comment_count"], body["liked_by_me"]) == (0, 0, False)
    assert body["created_at"].endswith("Z")
    post = Post.objects.get(pk=body["id"])
    assert body["image_url"] == post.image.url and body["image_url"].endswith(".jpg")
    with Image.open(settings.MEDIA_ROOT / post.image.name) as image:
        assert image.format == "JPEG" and image.size == (800, 600)
    with Image.open(settings.MEDIA_ROOT / post.thumbnail.name) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (320, 320)
    user.refresh_from_db()
    assert user.post_count == 1


@pytest.mark.django_db
def test_create_post_with_json_body_is_415(auth_client):
    response = auth_client.post("/api/posts", {"caption": "hi"}, format="json")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"caption": "no image"}, "image"),
        ({"image": SimpleUploadedFile("a.jpg", b"just some text", content_type="image/jpeg")}, "image"),
        ({"image": SimpleUploadedFile("a.jpg", b"", content_type="image/jpeg")}, "image"),
        ({"image": "not a file"}, "image"),
        ({"image": "IMAGE", "caption": "x" * 2201}, "caption"),
    ],
)
def test_create_post_rejects_bad_input_with_field_errors(user, client_for, data, field):
    if data.get("image") == "IMAGE":
        data["image"] = image_upload()
    response = client_for(user).post("/api/posts", data, format="multipart")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Post.objects.exists()
    user.refresh_from_db()
    assert user.post_count == 0


@pytest.mark.django_db
def test_create_post_accepts_a_caption_of_exactly_2200_characters(auth_client):
    assert len(create_post(auth_client, caption="x" * 2200)["caption"]) == 2200


@pytest.mark.django_db
@pytest.mark.parametrize("megabytes", [10.5, 11])
def test_create_post_with_oversized_file_is_413(auth_client, megabytes):
    blob = SimpleUploadedFile("big.jpg", b"\xff" * int(megabytes * 1024 * 1024), content_type="image/jpeg")
    response = auth_client.post("/api/posts", {"image": blob}, format="multipart")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_create_post_mentions_notify_the_mentioned(user, client_for):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    body = create_post(client_for(user), caption="with @Alice and @bob and @nobody and @alice again")
    mentions = Notification.objects.filter(verb="mention").order_by("recipient_id")
    assert [(n.recipient_id, n.post_id, n.actor_id) for n in mentions] == [
        (alice.pk, body["id"], user.pk),
        (bob.pk, body["id"], user.pk),
    ]


# --- read / delete ---------------------------------------------------------------------


@pytest.mark.django_db
def test_get_post_and_missing_post(user, client_for):
    client = client_for(user)
    body = create_post(client)
    assert client.get(f"/api/posts/{body['id']}").json() == body
    for missing in (body["id"] + 1, 10**30):
        response = client.get(f"/api/posts/{missing}")
        assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_only_the_author_deletes_a_post(user, other_user, client_for, settings):
    # given
    body = create_post(client_for(user))
    post = Post.objects.get(pk=body["id"])
    files = [settings.MEDIA_ROOT / post.image.name, settings.MEDIA_ROOT / post.thumbnail.name]
    # when
    refused = client_for(other_user).delete(f"/api/posts/{post.pk}")
    # then
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert Post.objects.filter(pk=post.pk).exists()
    # when
    deleted = client_for(user).delete(f"/api/posts/{post.pk}")
    # then
    assert deleted.status_code == 204
    assert not Post.objects.filter(pk=post.pk).exists()
    user.refresh_from_db()
    assert user.post_count == 0
    assert client_for(user).delete(f"/api/posts/{post.pk}").status_code == 404
    assert all(f.exists() for f in files)  # file removal waits for the commit


@pytest.mark.django_db(transaction=True)
def test_deleting_a_post_removes_its_files_after_commit(user, client_for, settings):
    body = create_post(client_for(user))
    assert fanout.wait_idle(10)
    post = Post.objects.get(pk=body["id"])
    files = [settings.MEDIA_ROOT / post.image.name, settings.MEDIA_ROOT / post.thumbnail.name]
    assert all(f.exists() for f in files)
    assert client_for(user).delete(f"/api/posts/{post.pk}").status_code == 204
    assert not any(f.exists() for f in files)


# --- feed ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_feed_has_followed_and_own_posts_newest_first(user, client_for):
    # given
    followed, stranger = UserFactory(), UserFactory()
    Follow.objects.create(follower=user, followee=followed)
    mine = make_post(user)
    theirs = make_post(followed)
    make_post(stranger)
    newest = make_post(followed)
    Like.objects.create(user=user, post=theirs)
    # when
    response = client_for(user).get("/api/feed")
    # then
    assert response.status_code == 200
    results = response.json()["results"]
    assert [p["id"] for p in results] == [newest.pk, theirs.pk, mine.pk]
    assert [p["liked_by_me"] for p in results] == [False, True, False]
    assert response.json()["next"] is None


@pytest.mark.django_db
def test_feed_pages_with_a_cursor_without_repeats(user, client_for):
    posts = [make_post(user) for _ in range(7)]
    client = client_for(user)
    first = client.get("/api/feed", {"limit": 3}).json()
    make_post(user)  # a post arriving while paging does not shift the pages
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    ids = [p["id"] for p in first["results"] + second["results"] + third["results"]]
    assert ids == [p.pk for p in reversed(posts)]
    assert third["next"] is None
    assert client.get("/api/feed", {"cursor": "garbage"}).status_code == 404


@pytest.mark.django_db
def test_feed_costs_a_constant_number_of_queries(user, client_for):
    followed = [UserFactory() for _ in range(5)]
    Follow.objects.bulk_create([Follow(follower=user, followee=f) for f in followed])
    client = client_for(user)

    def count_for(n: int) -> int:
        Post.objects.all().delete()
        posts = Post.objects.bulk_create(
            [Post(author=followed[i % 5], image="posts/x.jpg", thumbnail="thumbs/x.jpg") for i in range(n)]
        )
        Like.objects.bulk_create([Like(user=user, post=p) for p in posts[::3]])
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/feed", {"limit": 100})
        assert len(response.json()["results"]) == n
        return len(queries.captured_queries)

    assert count_for(5) == count_for(50)


@pytest.mark.django_db
def test_user_posts_lists_that_users_posts_newest_first(user, client_for):
    alice = UserFactory(username="alice")
    a1, a2 = make_post(alice), make_post(alice)
    make_post(user)
    response = client_for(user).get("/api/users/alice/posts")
    assert [p["id"] for p in response.json()["results"]] == [a2.pk, a1.pk]
    assert client_for(user).get("/api/users/nobody/posts").status_code == 404


# --- likes -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_like_is_idempotent_and_notifies_the_author_once(user, other_user, client_for):
    # given
    post = make_post(other_user)
    client = client_for(user)
    # when
    first = client.post(f"/api/posts/{post.pk}/like")
    second = client.post(f"/api/posts/{post.pk}/like")
    # then
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["like_count"] == 1 and first.json()["liked_by_me"] is True
    assert second.json() == first.json()
    assert Like.objects.filter(post=post).count() == 1
    assert list(Notification.objects.values_list("recipient_id", "verb", "post_id")) == [
        (other_user.pk, "like", post.pk)
    ]


@pytest.mark.django_db
def test_unlike_is_idempotent(user, other_user, client_for):
    post = make_post(other_user)
    client = client_for(user)
    client.post(f"/api/posts/{post.pk}/like")
    first = client.delete(f"/api/posts/{post.pk}/like")
    second = client.delete(f"/api/posts/{post.pk}/like")
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["like_count"] == 0 and first.json()["liked_by_me"] is False
    post.refresh_from_db()
    assert post.like_count == 0
    # re-liking within the hour does not notify twice
    client.post(f"/api/posts/{post.pk}/like")
    assert Notification.objects.filter(verb="like").count() == 1


@pytest.mark.django_db
def test_like_missing_post_is_404(auth_client):
    assert auth_client.post("/api/posts/999999/like").status_code == 404
    assert auth_client.delete("/api/posts/999999/like").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["like", "comment"])
@pytest.mark.parametrize("direction, status", [("author_blocks_me", 404), ("i_block_author", 403)])
def test_like_and_comment_across_a_block_are_refused(user, other_user, client_for, action, direction, status):
    # (a post whose author blocked me does not exist for me: 404; one I blocked: 403)
    post = make_post(other_user)
    if direction == "author_blocks_me":
        Block.objects.create(blocker=other_user, blocked=user)
    else:
        Block.objects.create(blocker=user, blocked=other_user)
    client = client_for(user)
    if action == "like":
        response = client.post(f"/api/posts/{post.pk}/like")
    else:
        response = client.post(f"/api/posts/{post.pk}/comments", {"body": "hi"}, format="json")
    assert response.status_code == status
    post.refresh_from_db()
    assert (post.like_count, post.comment_count) == (0, 0)
    assert not Notification.objects.exists()


# --- comments --------------------------------------------------------------------------


@pytest.mark.django_db
def test_comments_are_created_and_listed_oldest_first(user, other_user, client_for):
    # given
    post = make_post(other_user)
    client = client_for(user)
    # when
    first = client.post(f"/api/posts/{post.pk}/comments", {"body": "  first!  "}, format="json")
    second = client_for(other_user).post(f"/api/posts/{post.pk}/comments", {"body": "thanks"}, format="json")
    listing = client.get(f"/api/posts/{post.pk}/comments")
    # then
    assert first.status_code == 201
    assert set(first.json()) == {"id", "post", "author", "body", "created_at"}
    assert first.json()["post"] == post.pk and first.json()["body"] == "first!"
    assert first.json()["author"]["id"] == user.pk
    assert [c["id"] for c in listing.json()["results"]] == [first.json()["id"], second.json()["id"]]
    post.refresh_from_db()
    assert post.comment_count == 2
    assert client.get(f"/api/posts/{post.pk}").json()["comment_count"] == 2


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"body": ""}, {"body": "   "}, {"body": "x" * 2201}, {}, {"body": ["a"]}])
def test_comment_bad_body_is_400(user, client_for, body):
    post = make_post(user)
    response = client_for(user).post(f"/api/posts/{post.pk}/comments", body, format="json")
    assert response.status_code == 400 and "body" in response.json()["fields"]
    assert not Comment.objects.exists()


@pytest.mark.django_db
def test_comment_malformed_json_is_400_json(user, client_for):
    post = make_post(user)
    response = client_for(user).post(f"/api/posts/{post.pk}/comments", b'{"body": ', content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


@pytest.mark.django_db
def test_comment_on_missing_post_is_404(auth_client):
    assert auth_client.post("/api/posts/999999/comments", {"body": "hi"}, format="json").status_code == 404
    assert auth_client.get("/api/posts/999999/comments").status_code == 404


@pytest.mark.django_db
def test_comment_mentioning_the_post_author_notifies_them_once_as_comment(user, client_for):
    # given
    author, carol = UserFactory(username="author"), UserFactory(username="carol")
    post = make_post(author)
    # when
    response = client_for(user).post(
        f"/api/posts/{post.pk}/comments", {"body": "@author look, @carol is here"}, format="json"
    )
    # then
    comment_id = response.json()["id"]
    got = sorted(Notification.objects.values_list("recipient_id", "verb", "comment_id"))
    assert got == sorted([(author.pk, "comment", comment_id), (carol.pk, "mention", comment_id)])


@pytest.mark.django_db
def test_comment_delete_by_stranger_is_403_by_either_author_is_allowed(user, client_for):
    # given
    author, commenter, stranger = UserFactory(), UserFactory(), UserFactory()
    post = make_post(author)
    make = client_for(commenter)
    c1 = make.post(f"/api/posts/{post.pk}/comments", {"body": "one"}, format="json").json()["id"]
    c2 = make.post(f"/api/posts/{post.pk}/comments", {"body": "two"}, format="json").json()["id"]
    # when / then
    refused = client_for(stranger).delete(f"/api/comments/{c1}")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert client_for(commenter).delete(f"/api/comments/{c1}").status_code == 204
    assert client_for(author).delete(f"/api/comments/{c2}").status_code == 204
    assert client_for(author).delete(f"/api/comments/{c2}").status_code == 404
    post.refresh_from_db()
    assert post.comment_count == 0
    assert not Comment.objects.exists()


@pytest.mark.django_db
def test_comment_list_costs_a_constant_number_of_queries(user, client_for):
    post = make_post(user)
    client = client_for(user)

    def count_for(n: int) -> int:
        Comment.objects.all().delete()
        authors = User.objects.bulk_create(
            [User(username=f"c{n}_{i}", email=f"c{n}_{i}@example.com") for i in range(n)]
        )
        Comment.objects.bulk_create([Comment(post=post, author=a, body="nice") for a in authors])
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/posts/{post.pk}/comments", {"limit": 100})
        assert len(response.json()["results"]) == n
        return len(queries.captured_queries)

    assert count_for(5) == count_for(50)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/feed"),
        ("post", "/api/posts"),
        ("get", "/api/posts/1"),
        ("delete", "/api/posts/1"),
        ("post", "/api/posts/1/like"),
        ("get", "/api/posts/1/comments"),
        ("post", "/api/posts/1/comments"),
        ("delete", "/api/comments/1"),
        ("get", "/api/users/alice/posts"),
        ("patch", "/api/posts/1"),
        ("post", "/api/posts/1/save"),
        ("delete", "/api/posts/1/save"),
        ("get", "/api/me/saved"),
        ("get", "/api/tags"),
        ("get", "/api/tags/lake"),
        ("get", "/api/tags/lake/posts"),
        ("get", "/api/explore"),
        ("get", "/api/me/follow-requests"),
        ("post", "/api/follow-requests/1/accept"),
        ("post", "/api/follow-requests/1/decline"),
    ],
)
def test_feed_endpoints_require_authentication(api_client, method, path):
    response = getattr(api_client, method)(path)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
