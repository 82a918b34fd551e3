"""The bulk seeder behind `seed_demo --scale medium`, at a tiny scale: COPY (PostgreSQL) or
multi-row INSERTs (SQLite) fill the tables with exactly the numbers asked for, unique
pairs, no self-follow, right denormalised counts, and a file of its own for every post."""

import pytest
from django.db.models import Count, F

from accounts.models import Follow, User
from feed.hashtags import tag_names
from feed.models import Hashtag, Like, Post, PostHashtag
from frontend.demo.bulk import Scale, build_medium_world
from tests.factories import UserFactory

TINY = Scale(users=60, posts=300, follows=700, likes=1_500, celebrities=2, celebrity_followers=(40, 50), photo_pool=2)


@pytest.mark.django_db
def test_the_bulk_world_has_the_asked_numbers_and_right_counts(settings):
    # given: someone already there (the seeder adds beside them)
    someone = UserFactory()
    steps: list[str] = []
    # when
    build_medium_world(seed=7, scale=TINY, progress=lambda stage, n=1: steps.append(stage))
    # then
    demo = User.objects.exclude(pk=someone.pk)
    assert all(email.endswith("@demo.instaclone.test") for email in demo.values_list("email", flat=True))
    assert demo.count() == 60
    assert Follow.objects.count() == 700 and Post.objects.count() == 300 and Like.objects.count() == 1_500
    assert not Follow.objects.filter(follower=F("followee")).exists()
    celebrities = demo.order_by("pk")[1:3]
    assert all(c.follower_count >= 40 for c in celebrities)
    assert not demo.annotate(n=Count("follower_set")).exclude(follower_count=F("n")).exists()
    assert not demo.annotate(n=Count("following_set")).exclude(following_count=F("n")).exists()
    assert not demo.annotate(n=Count("posts")).exclude(post_count=F("n")).exists()
    assert not Post.objects.annotate(n=Count("likes")).exclude(like_count=F("n")).exists()
    names = list(Post.objects.values_list("image", flat=True))
    assert len(set(names)) == 300 and all((settings.MEDIA_ROOT / name).exists() for name in names[:20])
    assert {"photos", "people", "follows", "posts", "likes", "counts"} <= set(steps)
    assert User.objects.get(username="bench").check_password("lakeside-demo-2026")
    # and every caption's tags index its post, with right counts
    tagged = {(t, p) for t, p in PostHashtag.objects.values_list("hashtag__name", "post_id")}
    expected = {(name, pk) for pk, caption in Post.objects.values_list("pk", "caption") for name in tag_names(caption)}
    assert tagged == expected and tagged
    per_tag = dict(PostHashtag.objects.values("hashtag_id").annotate(n=Count("*")).values_list("hashtag_id", "n"))
    assert dict(Hashtag.objects.values_list("pk", "post_count")) == per_tag
