from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User


def avatar_url(user: User) -> str | None:
    return user.avatar.url if user.avatar else None


class UserBriefSerializer(serializers.ModelSerializer):
    """A user inside another object: `{id, username, full_name, avatar_url}`."""

    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "avatar_url"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_avatar_url(self, user: User) -> str | None:
        return avatar_url(user)


def user_brief(user: User) -> dict:
    return UserBriefSerializer(user).data
