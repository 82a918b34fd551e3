from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from accounts.models import Follow, User
from accounts.selectors import content_visible_filter, exclude_blocked
from feed.models import Comment, Like, Post, PostImage, Save


def _extra_images() -> Prefetch:
    return Prefetch("extra_images", queryset=PostImage.objects.order_by("position"))


def _with_viewer(posts: QuerySet[Post], viewer: User) -> QuerySet[Post]:
    """Author loaded in the same query; `liked_by_me` and `saved_by_me` as EXISTS
    subqueries; the further images of the page's posts in one more query."""
    return (
        posts.select_related("author")
        .annotate(
            liked_by_me=Exists(Like.objects.filter(post_id=OuterRef("pk"), user_id=viewer.pk)),
            saved_by_me=Exists(Save.objects.filter(post_id=OuterRef("pk"), user_id=viewer.pk)),
        )
        .prefetch_related(_extra_images())
    )


def feed_for_user(*, viewer: User) -> QuerySet[Post]:
    """The home feed: posts by the people the viewer follows and by the viewer, to be
    ordered newest first by the paginator. One query per page, whatever its size.

    A block either way takes the author out of the feed, as it does from live `feed.post`
    pushes (a follow from before the block may still exist)."""
    followed = Follow.objects.filter(follower_id=viewer.pk).values("followee_id")
    posts = Post.objects.filter(Q(author_id=viewer.pk) | Q(author_id__in=followed))
    return _with_viewer(exclude_blocked(posts, user_id=viewer.pk, field="author_id"), viewer)


def post_list_by_author(*, author: User, viewer: User) -> QuerySet[Post]:
    return _with_viewer(Post.objects.filter(author_id=author.pk), viewer)


def post_get(*, post_id: int, viewer: User) -> Post | None:
    return _with_viewer(Post.objects.filter(pk=post_id), viewer).first()


def comment_list(*, post: Post) -> QuerySet[Comment]:
    """The post's comments with their authors, to be ordered oldest first by the paginator."""
    return Comment.objects.filter(post_id=post.pk).select_related("author")


def saved_list(*, viewer: User) -> QuerySet[Save]:
    """The viewer's saves, to be ordered newest saved first by the paginator, each with its
    post loaded as the viewer sees it (`liked_by_me`, `saved_by_me`) and its further
    images; posts whose author the viewer may no longer see (gone private, a block) are
    left out. A constant number of queries per page."""
    saves = Save.objects.filter(user_id=viewer.pk)
    saves = content_visible_filter(saves, viewer=viewer, field="post__author")
    return (
        saves.select_related("post__author")
        .prefetch_related(Prefetch("post__extra_images", queryset=PostImage.objects.order_by("position")))
        .annotate(liked_by_me=Exists(Like.objects.filter(post_id=OuterRef("post_id"), user_id=viewer.pk)))
    )


def saved_posts(rows: list[Save]) -> list[Post]:
    """The posts of a page of `saved_list`, with the viewer's flags set."""
    posts = []
    for row in rows:
        post = row.post
        post.liked_by_me = row.liked_by_me  # type: ignore[attr-defined]  # annotated by saved_list
        post.saved_by_me = True  # type: ignore[attr-defined]
        posts.append(post)
    return posts
