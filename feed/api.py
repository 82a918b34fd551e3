"""Feed REST API: views parse input, check access and call services or selectors."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import THROTTLES, paginate, target_user
from accounts.selectors import content_access_check
from core.images import check_request_size
from core.pagination import CursorPagination
from feed import services
from feed.explore import explore_page
from feed.hashtags import is_tag_name
from feed.models import CAPTION_MAX, COMMENT_MAX, POST_IMAGES_MAX, TAG_MAX
from feed.selectors import (
    comment_list,
    explore_candidates,
    feed_for_user,
    post_get,
    post_list_by_author,
    posts_of_rows,
    saved_list,
    tag_get,
    tag_post_rows,
    tag_search,
)
from feed.serializers import CommentSerializer, PostSerializer


class OldestFirstPagination(CursorPagination):
    ordering = "id"


def _posts(rows) -> list[dict]:
    return PostSerializer(rows, many=True).data


def _post_or_404(*, post_id: int, viewer):
    """The post as the viewer sees it: NotFound when missing, PrivateAccount (403
    `private`) when its author's content is not for the viewer."""
    post = post_get(post_id=post_id, viewer=viewer)
    if post is None:
        raise exceptions.NotFound("No such post.")
    content_access_check(viewer=viewer, owner=post.author)
    return post


class ImageListField(serializers.ListField):
    """Repeated multipart `image` parts; an error in one is reported under `image` (not
    `image.3`), like the single image it replaces."""

    def run_child_validation(self, data):
        try:
            return super().run_child_validation(data)
        except exceptions.ValidationError as exc:
            detail = exc.detail.values() if isinstance(exc.detail, dict) else [exc.detail]
            raise exceptions.ValidationError(
                [str(message) for errors in detail for message in (errors if isinstance(errors, list) else [errors])]
            )


class PostCreateApi(APIView):
    parser_classes = [MultiPartParser]
    throttle_classes = THROTTLES
    throttle_scope = "post"

    class PostCreateInputSerializer(serializers.Serializer):
        image = ImageListField(
            child=serializers.FileField(allow_empty_file=False),
            min_length=1,
            max_length=POST_IMAGES_MAX,
            help_text=f"1 to {POST_IMAGES_MAX} images (repeat the part), in order",
        )
        caption = serializers.CharField(max_length=CAPTION_MAX, allow_blank=True, required=False, trim_whitespace=False)

    @extend_schema(request={"multipart/form-data": PostCreateInputSerializer}, responses={201: PostSerializer})
    def post(self, request):
        check_request_size(request, images=POST_IMAGES_MAX)
        data = self.PostCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = services.post_create(
            author=request.user,
            images=data.validated_data["image"],
            caption=data.validated_data.get("caption", ""),
        )
        return Response(PostSerializer(post).data, status=status.HTTP_201_CREATED)


class PostDetailApi(APIView):
    @extend_schema(responses={200: PostSerializer})
    def get(self, request, post_id: int):
        return Response(PostSerializer(_post_or_404(post_id=post_id, viewer=request.user)).data)

    class PostUpdateInputSerializer(serializers.Serializer):
        caption = serializers.CharField(max_length=CAPTION_MAX, allow_blank=True, trim_whitespace=False)

    @extend_schema(request=PostUpdateInputSerializer, responses={200: PostSerializer})
    def patch(self, request, post_id: int):
        data = self.PostUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = services.post_update(user=request.user, post_id=post_id, caption=data.validated_data["caption"])
        return Response(PostSerializer(post).data)

    @extend_schema(responses={204: None})
    def delete(self, request, post_id: int):
        services.post_delete(user=request.user, post_id=post_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FeedApi(APIView):
    pagination_class = CursorPagination

    @extend_schema(responses={200: PostSerializer(many=True)})
    def get(self, request):
        return paginate(self, feed_for_user(viewer=request.user), _posts)


class UserPostsApi(APIView):
    pagination_class = CursorPagination

    @extend_schema(responses={200: PostSerializer(many=True)})
    def get(self, request, username: str):
        author = target_user(username, request.user)
        content_access_check(viewer=request.user, owner=author)
        return paginate(self, post_list_by_author(author=author, viewer=request.user), _posts)


class LikeApi(APIView):
    throttle_classes = THROTTLES
    throttle_scope = "like"

    @extend_schema(request=None, responses={200: PostSerializer, 201: PostSerializer})
    def post(self, request, post_id: int):
        post, created = services.like_create(user=request.user, post_id=post_id)
        return Response(PostSerializer(post).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=None, responses={200: PostSerializer})
    def delete(self, request, post_id: int):
        post, _ = services.like_delete(user=request.user, post_id=post_id)
        return Response(PostSerializer(post).data)


class CommentListApi(APIView):
    pagination_class = OldestFirstPagination
    throttle_classes = THROTTLES
    throttle_scope = "comment"

    class CommentCreateInputSerializer(serializers.Serializer):
        body = serializers.CharField(max_length=COMMENT_MAX)

    @extend_schema(responses={200: CommentSerializer(many=True)})
    def get(self, request, post_id: int):
        post = _post_or_404(post_id=post_id, viewer=request.user)
        return paginate(
            self, comment_list(post=post, viewer=request.user), lambda rows: CommentSerializer(rows, many=True).data
        )

    @extend_schema(request=CommentCreateInputSerializer, responses={201: CommentSerializer})
    def post(self, request, post_id: int):
        data = self.CommentCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = services.comment_create(author=request.user, post_id=post_id, body=data.validated_data["body"])
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class CommentDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, comment_id: int):
        services.comment_delete(user=request.user, comment_id=comment_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SaveApi(APIView):
    throttle_classes = THROTTLES
    throttle_scope = "like"

    @extend_schema(request=None, responses={200: PostSerializer, 201: PostSerializer})
    def post(self, request, post_id: int):
        post, created = services.save_create(user=request.user, post_id=post_id)
        return Response(PostSerializer(post).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=None, responses={200: PostSerializer})
    def delete(self, request, post_id: int):
        post, _ = services.save_delete(user=request.user, post_id=post_id)
        return Response(PostSerializer(post).data)


class SavedListApi(APIView):
    pagination_class = CursorPagination

    @extend_schema(responses={200: PostSerializer(many=True)}, description="My saved posts, newest saved first.")
    def get(self, request):
        return paginate(self, saved_list(viewer=request.user), lambda rows: _posts(posts_of_rows(rows)))


class TagSerializer(serializers.Serializer):
    """A hashtag: `{name, post_count}` (lower-case name, without the `#`)."""

    name = serializers.CharField()
    post_count = serializers.IntegerField()


def _tag_or_404(name: str):
    tag = tag_get(name=name) if is_tag_name(name) else None
    if tag is None or tag.post_count == 0:
        raise exceptions.NotFound("No such tag.")
    return tag


class TagSearchApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("q", str, description=f"tag prefix, without `#`, up to {TAG_MAX} characters")],
        responses={200: TagSerializer(many=True)},
        description="Up to 20 tags starting with `q`, the most used first (a plain list).",
    )
    def get(self, request):
        q = request.query_params.get("q", "").strip().removeprefix("#")
        if len(q) > TAG_MAX:
            raise exceptions.ValidationError({"q": [f"At most {TAG_MAX} characters."]})
        if q and not is_tag_name(q):
            raise exceptions.ValidationError({"q": ["Tags have only letters, digits and underscores."]})
        return Response(TagSerializer(tag_search(q=q) if q else [], many=True).data)


class TagDetailApi(APIView):
    @extend_schema(responses={200: TagSerializer})
    def get(self, request, name: str):
        return Response(TagSerializer(_tag_or_404(name)).data)


class TagPostPagination(CursorPagination):
    ordering = "-post_id"


class TagPostsApi(APIView):
    pagination_class = TagPostPagination

    @extend_schema(responses={200: PostSerializer(many=True)}, description="Newest first; posts the viewer may see.")
    def get(self, request, name: str):
        tag = _tag_or_404(name)
        return paginate(self, tag_post_rows(tag=tag, viewer=request.user), lambda rows: _posts(posts_of_rows(rows)))


class ExploreApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", str, description="from `next`"),
            OpenApiParameter("limit", int, description="page size, 1 to 100 (20)"),
        ],
        responses={200: PostSerializer(many=True)},
        description="Posts of public accounts the viewer does not follow and has no block with: the last "
        "72 hours' most engaging (likes plus comments) first, newest among equals, then older ones newest first.",
    )
    def get(self, request):
        posts, next_url = explore_page(explore_candidates(viewer=request.user), request)
        return Response({"results": _posts(posts), "next": next_url})
