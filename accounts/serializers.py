from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from core.wire import file_url, represented_by

FOLLOW_STATUSES = ["none", "requested", "following"]


def avatar_url(user: User) -> str | None:
    return file_url(user, "avatar")


def user_brief(user: User) -> dict:
    """A user inside another object: `{id, username, full_name, avatar_url}`."""
    return {"id": user.pk, "username": user.username, "full_name": user.full_name, "avatar_url": avatar_url(user)}


class UserBriefSerializer(serializers.ModelSerializer):
    """A user inside another object: `{id, username, full_name, avatar_url}`."""

    to_representation = represented_by(user_brief)  # the output; the fields below describe it

    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "avatar_url"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_avatar_url(self, user: User) -> str | None:
        return avatar_url(user)


class ProfileSerializer(serializers.ModelSerializer):
    """user (profile): `{id, username, full_name, bio, avatar_url, follower_count,
    following_count, post_count, is_following, is_private, follow_status}`.

    `is_following` (does the viewer follow this user) is read from the instance's
    `is_following` attribute, which selectors annotate, and `follow_status` from it and
    `follow_requested` (a pending request); absent, they are false.
    """

    avatar_url = serializers.SerializerMethodField()
    is_following = serializers.SerializerMethodField()
    follow_status = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "full_name",
            "bio",
            "avatar_url",
            "follower_count",
            "following_count",
            "post_count",
            "is_following",
            "is_private",
            "follow_status",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_avatar_url(self, user: User) -> str | None:
        return avatar_url(user)

    @extend_schema_field(serializers.BooleanField())
    def get_is_following(self, user: User) -> bool:
        return bool(getattr(user, "is_following", False))

    @extend_schema_field(serializers.ChoiceField(choices=FOLLOW_STATUSES))
    def get_follow_status(self, user: User) -> str:
        return follow_status_of(
            following=bool(getattr(user, "is_following", False)),
            requested=bool(getattr(user, "follow_requested", False)),
        )


def follow_status_of(*, following: bool, requested: bool) -> str:
    return "following" if following else "requested" if requested else "none"


def profile_public(user: User) -> dict:
    """The viewer-independent part of a profile (what the cache holds)."""
    data = dict(ProfileSerializer(user).data)
    data.pop("is_following")
    data.pop("follow_status")
    return data


class FollowRequestSerializer(serializers.Serializer):
    """A pending follow request: `{id, user, created_at}` (`user` is the requester)."""

    id = serializers.IntegerField()
    user = UserBriefSerializer(source="requester")
    created_at = serializers.DateTimeField()


class FollowRequestedSerializer(serializers.Serializer):
    """`{"status": "requested"}`: the answer to following a private account."""

    status = serializers.ChoiceField(choices=["requested"])


class AuthResultSerializer(serializers.Serializer):
    """`{user, token}` of register and login; the token key is shown this once."""

    user = ProfileSerializer()
    token = serializers.CharField()
