"""Stories REST API: views parse input, check access and call services or selectors."""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import THROTTLES, paginate, target_user
from accounts.selectors import PrivateAccount
from core.images import check_request_size
from core.pagination import CursorPagination
from feed import story_services as services
from feed.serializers import StorySerializer, StoryTraySerializer, StoryViewerSerializer
from feed.story_selectors import owner_access, story_list_by_author, story_tray, story_viewer_list


class OldestFirstPagination(CursorPagination):
    ordering = "id"


def _stories(rows) -> list[dict]:
    return StorySerializer(rows, many=True).data


class StoryTrayCreateApi(APIView):
    parser_classes = [MultiPartParser]
    throttle_classes = THROTTLES
    throttle_scope = "post"

    class StoryCreateInputSerializer(serializers.Serializer):
        image = serializers.FileField(allow_empty_file=False)

    @extend_schema(responses={200: StoryTraySerializer(many=True)})
    def get(self, request):
        tray = story_tray(viewer=request.user)
        return Response(
            StoryTraySerializer(
                [{"user": entry.user, "stories": entry.stories, "all_seen": entry.all_seen} for entry in tray],
                many=True,
            ).data
        )

    @extend_schema(request=StoryCreateInputSerializer, responses={201: StorySerializer})
    def post(self, request):
        check_request_size(request)
        data = self.StoryCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        story = services.story_create(author=request.user, image=data.validated_data["image"])
        return Response(StorySerializer(story).data, status=status.HTTP_201_CREATED)


class StoryDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, story_id: int):
        services.story_delete(user=request.user, story_id=story_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StorySeenApi(APIView):
    @extend_schema(request=None, responses={200: StorySerializer, 201: StorySerializer})
    def post(self, request, story_id: int):
        story, created = services.story_mark_seen(viewer=request.user, story_id=story_id)
        return Response(StorySerializer(story).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class StoryViewersApi(APIView):
    pagination_class = CursorPagination

    @extend_schema(responses={200: StoryViewerSerializer(many=True)})
    def get(self, request, story_id: int):
        story = services.story_for_viewer(story_id=story_id, viewer=request.user)
        if story.author_id != request.user.pk:
            raise exceptions.PermissionDenied("Only the author sees who saw a story.")
        return paginate(self, story_viewer_list(story=story), lambda rows: StoryViewerSerializer(rows, many=True).data)


class UserStoriesApi(APIView):
    pagination_class = OldestFirstPagination

    @extend_schema(responses={200: StorySerializer(many=True)})
    def get(self, request, username: str):
        author = target_user(username, request.user)
        access = owner_access(viewer=request.user, owner=author)
        if access == "blocked":
            raise exceptions.NotFound("No such user.")
        if access == "private":
            raise PrivateAccount()
        return paginate(self, story_list_by_author(author=author, viewer=request.user), _stories)
