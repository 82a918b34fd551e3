from django.urls import path

from feed import api

urlpatterns = [
    path("feed", api.FeedApi.as_view(), name="api-feed"),
    path("posts", api.PostCreateApi.as_view(), name="api-post-create"),
    path("posts/<int:post_id>", api.PostDetailApi.as_view(), name="api-post-detail"),
    path("posts/<int:post_id>/like", api.LikeApi.as_view(), name="api-post-like"),
    path("posts/<int:post_id>/save", api.SaveApi.as_view(), name="api-post-save"),
    path("me/saved", api.SavedListApi.as_view(), name="api-saved"),
    path("posts/<int:post_id>/comments", api.CommentListApi.as_view(), name="api-post-comments"),
    path("comments/<int:comment_id>", api.CommentDetailApi.as_view(), name="api-comment-detail"),
    path("users/<str:username>/posts", api.UserPostsApi.as_view(), name="api-user-posts"),
]
