"""Hashtags and explore (DESIGN 6.3) over REST, in process."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Block, Follow
from feed import services
from feed.hashtags import tag_names
from feed.models import Hashtag, Post, PostHashtag
from tests.factories import UserFactory, image_upload

pytestmark = pytest.mark.django_db


def make_post(author, caption: str = "", *, ago: timedelta = timedelta(0), likes: int = 0, comments: int = 0) -> Post:
    post = Post.objects.create(author=author, caption=caption, image="posts/x.jpg", thumbnail="thumbs/x.jpg")
    Post.objects.filter(pk=post.pk).update(created_at=timezone.now() - ago, like_count=likes, comment_count=comments)
    return post


def tagged(author, caption: str) -> Post:
    return services.post_create(author=author, image=image_upload(), caption=caption)


def test_tag_syntax():
    assert tag_names("#Lake at #lake, #sun_set2! a#b &#39; #" + "x" * 101) == ["lake", "sun_set2"]
    assert tag_names("#" + "y" * 100) == ["y" * 100]
    assert tag_names("#Järvi #日本") == ["järvi", "日本"]
    assert tag_names("") == [] and tag_names(None) == []


def test_captions_index_posts_under_their_tags_case_insensitively(user, client_for):
    first = tagged(user, "#Lake day")
    second = tagged(user, "#lake and #LAKE again, #sun")
    client = client_for(user)
    assert client.get("/api/tags/LAKE").json() == {"name": "lake", "post_count": 2}
    body = client.get("/api/tags/lake/posts").json()
    assert [p["id"] for p in body["results"]] == [second.pk, first.pk] and body["next"] is None
    assert client.get("/api/tags", {"q": "la"}).json() == [{"name": "lake", "post_count": 2}]
    assert client.get("/api/tags", {"q": "#S"}).json() == [{"name": "sun", "post_count": 1}]
    assert client.get("/api/tags", {"q": ""}).json() == []
    assert client.get("/api/tags/nothing").status_code == 404
    assert client.get("/api/tags/bad-name").status_code == 404
    assert client.get("/api/tags", {"q": "a b"}).status_code == 400
    assert client.get("/api/tags", {"q": "a" * 101}).status_code == 400


def test_editing_and_deleting_keep_tags_and_counts_right(user, client_for):
    post = tagged(user, "#one #two")
    client_for(user).patch(f"/api/posts/{post.pk}", {"caption": "#two #three"}, format="json")
    counts = dict(Hashtag.objects.values_list("name", "post_count"))
    assert counts == {"one": 0, "two": 1, "three": 1}
    assert client_for(user).get("/api/tags/one").status_code == 404
    services.post_delete(user=user, post_id=post.pk)
    assert set(Hashtag.objects.values_list("post_count", flat=True)) == {0}
    assert not PostHashtag.objects.exists()


def test_tag_pages_show_only_posts_the_viewer_may_see(user, client_for):
    hidden_author = UserFactory(is_private=True)
    public = tagged(UserFactory(), "#shared")
    hidden = tagged(hidden_author, "#shared")
    stranger = client_for(user)
    assert [p["id"] for p in stranger.get("/api/tags/shared/posts").json()["results"]] == [public.pk]
    Follow.objects.create(follower=user, followee=hidden_author)
    assert [p["id"] for p in stranger.get("/api/tags/shared/posts").json()["results"]] == [hidden.pk, public.pk]


def test_tag_page_costs_a_constant_number_of_queries(user, client_for):
    author = UserFactory()

    def count_for(n: int) -> int:
        for _ in range(n):
            tagged(author, "#many")
        client = client_for(user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/tags/many/posts").status_code == 200
        return len(queries)

    assert count_for(2) == count_for(6)


def test_comments_tags_are_not_indexed(user, client_for):
    post = tagged(user, "plain")
    client_for(user).post(f"/api/posts/{post.pk}/comments", {"body": "#commented"}, format="json")
    assert client_for(user).get("/api/tags/commented").status_code == 404


# --- explore ---------------------------------------------------------------------------------


def ids(client, path="/api/explore", **params) -> tuple[list[int], str | None]:
    body = client.get(path, params).json()
    return [p["id"] for p in body["results"]], body["next"]


def test_explore_has_only_strangers_public_posts(user, client_for):
    followed, private, blocked, blocker, stranger = (UserFactory() for _ in range(5))
    private.is_private = True
    private.save(update_fields=["is_private"])
    Follow.objects.create(follower=user, followee=followed)
    Block.objects.create(blocker=user, blocked=blocked)
    Block.objects.create(blocker=blocker, blocked=user)
    for author in (user, followed, private, blocked, blocker):
        make_post(author)
    shown = make_post(stranger)
    assert ids(client_for(user)) == ([shown.pk], None)


def test_explore_ranks_recent_engagement_then_older_posts_newest_first(user, client_for):
    author = UserFactory()
    quiet_recent = make_post(author, ago=timedelta(hours=1))
    busy_recent = make_post(author, ago=timedelta(hours=2), likes=5, comments=3)
    liked_recent = make_post(author, ago=timedelta(hours=3), likes=4)
    busy_old = make_post(author, ago=timedelta(days=5), likes=100)
    newer_old = make_post(author, ago=timedelta(days=4))
    expected = [busy_recent.pk, liked_recent.pk, quiet_recent.pk, newer_old.pk, busy_old.pk]
    client = client_for(user)
    assert ids(client)[0] == expected
    for limit in (1, 2, 3):
        seen, next_url = [], "/api/explore"
        params = {"limit": limit}
        while next_url:
            page, next_url = ids(client, next_url, **params)
            params = {}
            assert len(page) <= limit
            seen += page
        assert seen == expected, limit


def test_explore_costs_a_constant_number_of_queries(user, client_for):
    def cost(*, recent: int, old: int) -> int:
        author = UserFactory()
        for i in range(recent):
            make_post(author, likes=i)
        for _ in range(old):
            make_post(author, ago=timedelta(days=10))
        client = client_for(user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/explore", {"limit": 4}).status_code == 200
        Post.objects.all().delete()
        return len(queries)

    # a page of recent posts only: one post query and one for their further images
    assert cost(recent=5, old=0) == cost(recent=40, old=40)
    # a page that runs on into older posts: one more of each, whatever the sizes
    assert cost(recent=2, old=3) == cost(recent=2, old=40) == cost(recent=5, old=0) + 2


@pytest.mark.parametrize("cursor", ["x", "e30", "eyJwIjozfQ", "!!!"])
def test_a_bad_explore_cursor_is_404(auth_client, cursor):
    response = auth_client.get("/api/explore", {"cursor": cursor})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
