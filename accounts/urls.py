from django.urls import path

from accounts import api, me_api

urlpatterns = [
    path("auth/register", api.RegisterApi.as_view(), name="api-auth-register"),
    path("auth/login", api.LoginApi.as_view(), name="api-auth-login"),
    path("auth/logout", api.LogoutApi.as_view(), name="api-auth-logout"),
    path("auth/password-reset", me_api.PasswordResetApi.as_view(), name="api-auth-password-reset"),
    path(
        "auth/password-reset/confirm", me_api.PasswordResetConfirmApi.as_view(), name="api-auth-password-reset-confirm"
    ),
    path("me", api.MeApi.as_view(), name="api-me"),
    path("me/blocked", api.BlockedListApi.as_view(), name="api-me-blocked"),
    path("me/follow-requests", api.FollowRequestListApi.as_view(), name="api-follow-requests"),
    path(
        "follow-requests/<int:request_id>/accept",
        api.FollowRequestAcceptApi.as_view(),
        name="api-follow-request-accept",
    ),
    path(
        "follow-requests/<int:request_id>/decline",
        api.FollowRequestDeclineApi.as_view(),
        name="api-follow-request-decline",
    ),
    path("me/password", me_api.PasswordChangeApi.as_view(), name="api-me-password"),
    path("me/export", me_api.ExportApi.as_view(), name="api-me-export"),
    path("me/export/<int:export_id>", me_api.ExportStatusApi.as_view(), name="api-me-export-status"),
    path("me/export/<int:export_id>/download", me_api.ExportDownloadApi.as_view(), name="api-me-export-download"),
    path("me/sessions", me_api.SessionListApi.as_view(), name="api-me-sessions"),
    path("me/sessions/revoke-others", me_api.SessionRevokeOthersApi.as_view(), name="api-me-sessions-revoke-others"),
    path("me/sessions/<int:credential_id>", me_api.SessionDetailApi.as_view(), name="api-me-session"),
    path("users", api.UserSearchApi.as_view(), name="api-user-search"),
    path("users/<str:username>", api.UserDetailApi.as_view(), name="api-user-detail"),
    path("users/<str:username>/follow", api.FollowApi.as_view(), name="api-user-follow"),
    path("users/<str:username>/followers", api.FollowersApi.as_view(), name="api-user-followers"),
    path("users/<str:username>/following", api.FollowingApi.as_view(), name="api-user-following"),
    path("users/<str:username>/block", api.BlockApi.as_view(), name="api-user-block"),
]
