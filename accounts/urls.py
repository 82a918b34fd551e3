from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/register", api.RegisterApi.as_view(), name="api-auth-register"),
    path("auth/login", api.LoginApi.as_view(), name="api-auth-login"),
    path("auth/logout", api.LogoutApi.as_view(), name="api-auth-logout"),
    path("me", api.MeApi.as_view(), name="api-me"),
    path("me/blocked", api.BlockedListApi.as_view(), name="api-me-blocked"),
    path("users", api.UserSearchApi.as_view(), name="api-user-search"),
    path("users/<str:username>", api.UserDetailApi.as_view(), name="api-user-detail"),
    path("users/<str:username>/follow", api.FollowApi.as_view(), name="api-user-follow"),
    path("users/<str:username>/followers", api.FollowersApi.as_view(), name="api-user-followers"),
    path("users/<str:username>/following", api.FollowingApi.as_view(), name="api-user-following"),
    path("users/<str:username>/block", api.BlockApi.as_view(), name="api-user-block"),
]
