from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Follow, User
from accounts.selectors import exclude_blocked, exclude_blockers_of
from feed.models import Comment, Like, Post


def _with_viewer(posts: QuerySet[Post], viewer: User) -> QuerySet[Post]:
    """Author loaded in the same query; `liked_by_me` as an EXISTS subquery."""
    return posts.select_related("author").annotate(
        liked_by_me=Exists(Like.objects.filter(post_id=OuterRef("pk"), user_id=viewer.pk))
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
    """The post, unless its author blocked the viewer (then None, as for a missing post)."""
    posts = exclude_blockers_of(Post.objects.filter(pk=post_id), viewer_id=viewer.pk, field="author_id")
    return _with_viewer(posts, viewer).first()


def comment_list(*, post: Post, viewer: User) -> QuerySet[Comment]:
    """The post's comments with their authors, to be ordered oldest first by the paginator;
    none by anyone the viewer blocked or was blocked by."""
    comments = exclude_blocked(Comment.objects.filter(post_id=post.pk), user_id=viewer.pk, field="author_id")
    return comments.select_related("author")
