"""The denormalised counts (followers, following, posts, likes) recomputed from the rows,
for demo data inserted in bulk past the services."""

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import Follow, User
from feed.models import Hashtag, Like, Post, PostHashtag


def _count(queryset: QuerySet, field: str):
    return Coalesce(
        Subquery(queryset.values(field).annotate(n=Count("*")).values("n")[:1], output_field=IntegerField()),
        Value(0),
    )


def recount_people(people: QuerySet[User]) -> None:
    people.update(
        follower_count=_count(Follow.objects.filter(followee_id=OuterRef("pk")), "followee_id"),
        following_count=_count(Follow.objects.filter(follower_id=OuterRef("pk")), "follower_id"),
        post_count=_count(Post.objects.filter(author_id=OuterRef("pk")), "author_id"),
    )


def recount_posts(posts: QuerySet[Post]) -> None:
    posts.update(like_count=_count(Like.objects.filter(post_id=OuterRef("pk")), "post_id"))


def recount_tags(tags: QuerySet[Hashtag]) -> None:
    tags.update(post_count=_count(PostHashtag.objects.filter(hashtag_id=OuterRef("pk")), "hashtag_id"))
