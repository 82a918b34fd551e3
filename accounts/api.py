"""Accounts REST API: views parse input, check access and call services or selectors."""

from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import credentials, me_api, services
from accounts.selectors import (
    block_list,
    content_access_check,
    follow_exists,
    follow_request_list,
    follow_status,
    follower_list,
    following_list,
    is_blocked_by,
    user_get_by_username,
    user_profile_public,
    user_search,
    user_visible_by_username,
)
from accounts.serializers import (
    AuthResultSerializer,
    FollowRequestedSerializer,
    FollowRequestSerializer,
    ProfileSerializer,
    follow_status_of,
)
from core.images import check_request_size
from core.pagination import CursorPagination
from core.parsers import JSONParser
from core.throttling import AnonRateThrottle, ScopedThrottle, UserRateThrottle

THROTTLES = [AnonRateThrottle, UserRateThrottle, ScopedThrottle]
SEARCH_MAX = 30


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Token <key>` in the OpenAPI schema."""

    target_class = "accounts.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Token <key>`"}


class SessionAuthenticationScheme(SessionScheme):
    """Documents the session cookie (`cookieAuth`) for our SessionAuthentication."""

    target_class = "accounts.auth.SessionAuthentication"


class InvalidCredentials(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Wrong username or password."
    default_code = "invalid_credentials"


class UsernameCursorPagination(CursorPagination):
    ordering = "username"


def paginate(view: APIView, queryset, serialize) -> Response:
    """One page of `queryset` as `{"results", "next"}`; `serialize(rows)` makes the list.

    The view's `pagination_class` orders the page; declared on the view, it also puts the
    paginated shape and the `cursor`/`limit` parameters into the OpenAPI schema."""
    paginator = getattr(view, "pagination_class", None) or CursorPagination
    paginator = paginator()
    rows = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serialize(rows))


def target_user(username: str, viewer):
    """The user named in the URL, as the viewer may see them: 404 for a name nobody has, a
    deactivated account, and an account that blocked the viewer (alike, so a blocked person
    cannot tell a block from a missing account)."""
    user = user_visible_by_username(username=username, viewer=viewer)
    if user is None:
        raise exceptions.NotFound("No such user.")
    return user


def profile_of(user, *, is_following: bool, requested: bool = False) -> dict:
    user.is_following = is_following
    user.follow_requested = requested
    return ProfileSerializer(user).data


def _sign_in(request, user) -> str:
    """Opens a session (recorded as a credential) and issues a token; returns its key."""
    agent, ip = credentials.client_of(request)
    previous = request.session.session_key
    login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
    get_token(request._request)
    if request.session.session_key is None:
        request.session.save()
    credentials.session_record(
        user=user, session_key=request.session.session_key, previous_key=previous, user_agent=agent, ip=ip
    )
    return credentials.token_create(user=user, user_agent=agent, ip=ip)


class RegisterApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = THROTTLES
    throttle_scope = "register"

    class RegisterInputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=64)
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=256, trim_whitespace=False)

    @extend_schema(request=RegisterInputSerializer, responses={201: AuthResultSerializer}, auth=[])
    def post(self, request):
        data = self.RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        token = _sign_in(request, user)
        return Response({"user": profile_of(user, is_following=False), "token": token}, status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = THROTTLES
    throttle_scope = "login"

    class LoginInputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=256, trim_whitespace=False)

    @extend_schema(request=LoginInputSerializer, responses={200: AuthResultSerializer}, auth=[])
    def post(self, request):
        data = self.LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        known = user_get_by_username(username=username)
        # An unknown name still runs the hasher (inside authenticate), so timing tells nothing.
        user = authenticate(
            request._request,
            username=known.username if known else username,
            password=data.validated_data["password"],
        )
        if user is None:
            raise InvalidCredentials()
        token = _sign_in(request, user)
        return Response({"user": profile_of(user, is_following=False), "token": token})


class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        token_key = request.auth if isinstance(request.auth, str) else None
        session_key = request.session.session_key if hasattr(request, "session") else None
        credentials.credential_logout(user=request.user, token_key=token_key, session_key=session_key)
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    parser_classes = [JSONParser, MultiPartParser]

    class ProfileUpdateInputSerializer(serializers.Serializer):
        full_name = serializers.CharField(max_length=services.FULL_NAME_MAX, allow_blank=True, required=False)
        bio = serializers.CharField(max_length=services.BIO_MAX, allow_blank=True, required=False)
        avatar = serializers.FileField(required=False, allow_null=True, allow_empty_file=False)
        is_private = serializers.BooleanField(required=False)

    @extend_schema(responses={200: ProfileSerializer})
    def get(self, request):
        return Response(profile_of(request.user, is_following=False))

    @extend_schema(request=ProfileUpdateInputSerializer, responses={200: ProfileSerializer})
    def patch(self, request):
        check_request_size(request)
        data = self.ProfileUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = services.profile_update(
            user=request.user,
            full_name=values.get("full_name"),
            bio=values.get("bio"),
            avatar=values.get("avatar"),
            clear_avatar="avatar" in values and values["avatar"] is None,
            is_private=values.get("is_private"),
        )
        return Response(profile_of(user, is_following=False))

    @extend_schema(request=me_api.AccountDeleteInputSerializer, responses={204: None})
    def delete(self, request):
        return me_api.account_delete(request)


class UserSearchApi(APIView):
    pagination_class = UsernameCursorPagination

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="username prefix, up to 30 characters")],
        responses={200: ProfileSerializer(many=True)},
    )
    def get(self, request):
        q = request.query_params.get("q", "").strip()
        if len(q) > SEARCH_MAX:
            raise exceptions.ValidationError({"q": [f"At most {SEARCH_MAX} characters."]})
        if q and not all(ch.isascii() and (ch.isalnum() or ch in "_.") for ch in q):
            raise exceptions.ValidationError({"q": ["Usernames have only letters, digits, underscores and dots."]})
        users = user_search(viewer=request.user, q=q)
        return paginate(self, users, lambda rows: ProfileSerializer(rows, many=True).data)


class UserDetailApi(APIView):
    @extend_schema(responses={200: ProfileSerializer})
    def get(self, request, username: str):
        data = user_profile_public(username=username)
        if data is None or is_blocked_by(viewer_id=request.user.pk, user_id=data["id"]):
            raise exceptions.NotFound("No such user.")
        following, requested = follow_status(viewer=request.user, owner_id=data["id"])
        return Response(
            {
                **data,
                "is_following": following,
                "follow_status": follow_status_of(following=following, requested=requested),
            }
        )


class FollowApi(APIView):
    throttle_classes = THROTTLES
    throttle_scope = "follow"

    @extend_schema(
        request=None,
        responses={
            200: ProfileSerializer,
            201: ProfileSerializer,
            202: FollowRequestedSerializer,
        },
        description="Follows a public account (201, a repeat 200: the profile). On a private account "
        "it asks instead: 202 `{status: requested}` (a repeat: 200, same body).",
    )
    def post(self, request, username: str):
        followee = target_user(username, request.user)
        follow, created = services.follow_start(follower=request.user, followee=followee)
        if follow == services.REQUESTED:
            return Response(
                {"status": services.REQUESTED}, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
            )
        return Response(
            profile_of(followee, is_following=True), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=None, responses={200: ProfileSerializer}, description="Unfollows, or withdraws a request.")
    def delete(self, request, username: str):
        followee = target_user(username, request.user)
        services.follow_delete(follower=request.user, followee=followee)
        return Response(profile_of(followee, is_following=False))


def _users_of(rows, attribute: str) -> list[dict]:
    users = []
    for row in rows:
        user = getattr(row, attribute)
        user.is_following = row.viewer_follows
        user.follow_requested = row.viewer_requested
        users.append(user)
    return ProfileSerializer(users, many=True).data


class FollowersApi(APIView):
    pagination_class = CursorPagination

    @extend_schema(responses={200: ProfileSerializer(many=True)})
    def get(self, request, username: str):
        user = target_user(username, request.user)
        content_access_check(viewer=request.user, owner=user)
        return paginate(self, follower_list(user=user, viewer=request.user), lambda rows: _users_of(rows, "follower"))


class FollowingApi(APIView):
    pagination_class = CursorPagination

    @extend_schema(responses={200: ProfileSerializer(many=True)})
    def get(self, request, username: str):
        user = target_user(username, request.user)
        content_access_check(viewer=request.user, owner=user)
        return paginate(self, following_list(user=user, viewer=request.user), lambda rows: _users_of(rows, "followee"))


class FollowRequestListApi(APIView):
    pagination_class = CursorPagination

    @extend_schema(responses={200: FollowRequestSerializer(many=True)})
    def get(self, request):
        return paginate(
            self, follow_request_list(owner=request.user), lambda rows: FollowRequestSerializer(rows, many=True).data
        )


class FollowRequestAcceptApi(APIView):
    throttle_classes = THROTTLES
    throttle_scope = "follow"

    @extend_schema(request=None, responses={204: None}, description="The owner of the requested account only.")
    def post(self, request, request_id: int):
        services.follow_request_accept(owner=request.user, request_id=request_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FollowRequestDeclineApi(APIView):
    throttle_classes = THROTTLES
    throttle_scope = "follow"

    @extend_schema(request=None, responses={204: None}, description="The owner of the requested account only.")
    def post(self, request, request_id: int):
        services.follow_request_decline(owner=request.user, request_id=request_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BlockApi(APIView):
    """POST: block the user (201 new, 200 already blocked); DELETE: lift the block (200,
    also when there was none). Both answer the user's profile."""

    throttle_classes = THROTTLES
    throttle_scope = "follow"

    @extend_schema(request=None, responses={200: ProfileSerializer, 201: ProfileSerializer})
    def post(self, request, username: str):
        blocked = target_user(username, request.user)
        created = services.block_create(blocker=request.user, blocked=blocked)
        return Response(
            profile_of(blocked, is_following=False), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=None, responses={200: ProfileSerializer})
    def delete(self, request, username: str):
        blocked = target_user(username, request.user)
        services.block_delete(blocker=request.user, blocked=blocked)
        return Response(
            profile_of(blocked, is_following=follow_exists(follower_id=request.user.pk, followee_id=blocked.pk))
        )


class BlockedListApi(APIView):
    """GET: the people I blocked, most recently blocked first."""

    pagination_class = CursorPagination

    @extend_schema(responses={200: ProfileSerializer(many=True)})
    def get(self, request):
        return paginate(
            self,
            block_list(user=request.user),
            lambda rows: ProfileSerializer([row.blocked for row in rows], many=True).data,
        )
