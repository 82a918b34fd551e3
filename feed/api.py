"""Feed REST API: views parse input, check access and call services or selectors."""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import THROTTLES, paginate, target_user
from accounts.selectors import content_access_check
from core.images import check_request_size
from core.pagination import CursorPagination
from feed import services
from feed.models import CAPTION_MAX, COMMENT_MAX
from feed.selectors import comment_list, feed_for_user, post_get, post_list_by_author
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


class PostCreateApi(APIView):
    parser_classes = [MultiPartParser]
    throttle_classes = THROTTLES
    throttle_scope = "post"

    class PostCreateInputSerializer(serializers.Serializer):
        image = serializers.FileField(allow_empty_file=False)
        caption = serializers.CharField(max_length=CAPTION_MAX, allow_blank=True, required=False, trim_whitespace=False)

    @extend_schema(request=PostCreateInputSerializer, responses={201: PostSerializer})
    def post(self, request):
        check_request_size(request)
        data = self.PostCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = services.post_create(
            author=request.user,
            image=data.validated_data["image"],
            caption=data.validated_data.get("caption", ""),
        )
        return Response(PostSerializer(post).data, status=status.HTTP_201_CREATED)


class PostDetailApi(APIView):
    @extend_schema(responses={200: PostSerializer})
    def get(self, request, post_id: int):
        return Response(PostSerializer(_post_or_404(post_id=post_id, viewer=request.user)).data)

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
