"""REST API of a person's own account (DESIGN 6.6): sessions and tokens, password, the
export of their data, deleting the account."""

from django.contrib.auth import HASH_SESSION_KEY, logout
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import credentials, deletion, export, passwords
from accounts.models import Credential, ExportJob
from core.ids import is_id
from core.throttling import AnonRateThrottle, ScopedThrottle, UserRateThrottle

THROTTLES = [AnonRateThrottle, UserRateThrottle, ScopedThrottle]
PASSWORD_MAX = 256


class CredentialSerializer(serializers.ModelSerializer):
    """A session or token: `{id, kind, created_at, last_used_at, user_agent, ip, current}`."""

    current = serializers.SerializerMethodField()

    class Meta:
        model = Credential
        fields = ["id", "kind", "created_at", "last_used_at", "user_agent", "ip", "current"]

    def get_current(self, credential: Credential) -> bool:
        return credential.digest == self.context.get("current_digest")


class RevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField()


class SessionListApi(APIView):
    @extend_schema(responses={200: CredentialSerializer(many=True)})
    def get(self, request):
        rows = credentials.credential_list(user=request.user)
        context = {"current_digest": credentials.credential_digest_of(request)}
        return Response(CredentialSerializer(rows, many=True, context=context).data)


class SessionDetailApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, credential_id: int):
        revoked = (
            credentials.credential_revoke(user=request.user, credential_id=credential_id)
            if is_id(credential_id)
            else None
        )
        if revoked is None:
            raise exceptions.NotFound("No such session.")
        if revoked.digest == credentials.credential_digest_of(request) and revoked.kind == Credential.KIND_SESSION:
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionRevokeOthersApi(APIView):
    @extend_schema(request=None, responses={200: RevokedSerializer})
    def post(self, request):
        count = credentials.credentials_revoke_all(
            user=request.user, keep_digest=credentials.credential_digest_of(request)
        )
        return Response({"revoked": count})


class PasswordChangeApi(APIView):
    throttle_classes = THROTTLES
    throttle_scope = "login"

    class PasswordChangeInputSerializer(serializers.Serializer):
        old_password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)
        new_password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)

    @extend_schema(request=PasswordChangeInputSerializer, responses={204: None})
    def post(self, request):
        data = self.PasswordChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = passwords.password_change(
            user=request.user, keep_digest=credentials.credential_digest_of(request), **data.validated_data
        )
        if not isinstance(request.auth, str) and request.session.get(HASH_SESSION_KEY):
            # This session stays signed in under the new password (without a new key, so
            # its sockets and its row in the sessions list stay what they were).
            request.session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = THROTTLES
    throttle_scope = "login"

    class PasswordResetInputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254)

    @extend_schema(request=PasswordResetInputSerializer, responses={202: None}, auth=[])
    def post(self, request):
        data = self.PasswordResetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        passwords.password_reset_request(email=data.validated_data["email"], base_url=request.build_absolute_uri("/"))
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = THROTTLES
    throttle_scope = "login"

    class PasswordResetConfirmInputSerializer(serializers.Serializer):
        uid = serializers.CharField(max_length=64)
        token = serializers.CharField(max_length=128)
        new_password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)

    @extend_schema(request=PasswordResetConfirmInputSerializer, responses={204: None}, auth=[])
    def post(self, request):
        data = self.PasswordResetConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        passwords.password_reset_confirm(**data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExportCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()


class ExportStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[s for s, _ in ExportJob.STATUSES])
    url = serializers.CharField(allow_null=True)


class ExportApi(APIView):
    throttle_classes = THROTTLES
    throttle_scope = "post"

    @extend_schema(request=None, responses={202: ExportCreatedSerializer})
    def post(self, request):
        job = export.export_request(user=request.user)
        return Response({"id": job.pk}, status=status.HTTP_202_ACCEPTED)


def _export_or_404(request, export_id: int) -> ExportJob:
    job = export.export_status(user=request.user, job_id=export_id) if is_id(export_id) else None
    if job is None:
        raise exceptions.NotFound("No such export.")
    return job


class ExportStatusApi(APIView):
    @extend_schema(responses={200: ExportStatusSerializer})
    def get(self, request, export_id: int):
        job = _export_or_404(request, export_id)
        url = None
        if job.status == ExportJob.READY:
            url = request.build_absolute_uri(reverse("api-me-export-download", args=[job.pk]))
        return Response({"status": job.status, "url": url})


class ExportDownloadApi(APIView):
    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request, export_id: int):
        _export_or_404(request, export_id)
        handle = export.export_take(user=request.user, job_id=export_id)
        if handle is None:
            raise exceptions.NotFound("This export is not ready, or was downloaded already.")
        name = f"instaclone-{request.user.username}.zip"
        return FileResponse(handle, as_attachment=True, filename=name, content_type="application/zip")


class AccountDeleteInputSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)


def account_delete(request) -> Response:
    """DELETE /api/me (MeApi): checks the password, deletes the account, ends the session."""
    data = AccountDeleteInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    deletion.user_delete(user=request.user, password=data.validated_data["password"])
    logout(request._request)
    return Response(status=status.HTTP_204_NO_CONTENT)
