from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from accounts.models import Follow, User
from accounts.selectors import content_visible_filter, exclude_blocked, exclude_blockers_of
from feed.models import Comment, Hashtag, Like, Post, PostHashtag, PostImage, Save


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
    """The post, unless its author blocked the viewer (then None, as for a missing post)."""
    posts = exclude_blockers_of(Post.objects.filter(pk=post_id), viewer_id=viewer.pk, field="author_id")
    return _with_viewer(posts, viewer).first()


def comment_list(*, post: Post, viewer: User) -> QuerySet[Comment]:
    """The post's comments with their authors, to be ordered oldest first by the paginator;
    none by anyone the viewer blocked or was blocked by."""
    comments = exclude_blocked(Comment.objects.filter(post_id=post.pk), user_id=viewer.pk, field="author_id")
    return comments.select_related("author")


def saved_list(*, viewer: User) -> QuerySet[Save]:
    """The viewer's saves, to be ordered newest saved first by the paginator, each with its
    post loaded as the viewer sees it (see `posts_of_rows`); posts whose author the viewer
    may no longer see (gone private, a block) are left out. A constant number of queries
    per page."""
    saves = content_visible_filter(Save.objects.filter(user_id=viewer.pk), viewer=viewer, field="post__author")
    return _rows_with_posts(saves, viewer)


TAG_SEARCH_LIMIT = 20


def tag_search(*, q: str) -> list[Hashtag]:
    """Up to TAG_SEARCH_LIMIT tags whose name starts with `q` (lower-cased), the most used
    first. One query (an index range scan on the name)."""
    return list(
        Hashtag.objects.filter(name__startswith=q.lower(), post_count__gt=0).order_by("-post_count", "name")[
            :TAG_SEARCH_LIMIT
        ]
    )


def tag_get(*, name: str) -> Hashtag | None:
    return Hashtag.objects.filter(name=name.lower()).first()


def tag_post_rows(*, tag: Hashtag, viewer: User) -> QuerySet[PostHashtag]:
    """The tag's posts the viewer may see (accounts.selectors.content_visible_filter), as
    PostHashtag rows with the post, its author and the viewer's flags loaded, to be ordered
    newest first (by post id) by the paginator: a constant number of queries per page,
    walking the (hashtag, post) index backwards."""
    rows = PostHashtag.objects.filter(hashtag_id=tag.pk)
    rows = content_visible_filter(rows, viewer=viewer, field="post__author")
    return _rows_with_posts(rows, viewer)


def _rows_with_posts(rows: QuerySet, viewer: User) -> QuerySet:
    return (
        rows.select_related("post__author")
        .prefetch_related(Prefetch("post__extra_images", queryset=PostImage.objects.order_by("position")))
        .annotate(
            liked_by_me=Exists(Like.objects.filter(post_id=OuterRef("post_id"), user_id=viewer.pk)),
            saved_by_me=Exists(Save.objects.filter(post_id=OuterRef("post_id"), user_id=viewer.pk)),
        )
    )


def posts_of_rows(rows) -> list[Post]:
    """The posts of a page of rows that point at posts (`tag_post_rows`, `saved_list`),
    with the viewer's flags set."""
    posts = []
    for row in rows:
        post = row.post
        post.liked_by_me = row.liked_by_me  # annotated by `_rows_with_posts`
        post.saved_by_me = row.saved_by_me
        posts.append(post)
    return posts


def explore_candidates(*, viewer: User) -> QuerySet[Post]:
    """Posts for the viewer's explore grid, before ranking: by active public accounts
    (content anyone may see, so inside the privacy rule) that are not the viewer, that the
    viewer does not follow, and with no block either way; with the viewer's flags. The
    paginator (feed.explore) ranks and pages them."""
    followed = Follow.objects.filter(follower_id=viewer.pk).values("followee_id")
    posts = (
        Post.objects.filter(author__is_private=False, author__is_active=True)
        .exclude(author_id=viewer.pk)
        .exclude(author_id__in=followed)
    )
    return _with_viewer(exclude_blocked(posts, user_id=viewer.pk, field="author_id"), viewer)
