from django.urls import path

from feed import api, story_api

urlpatterns = [
    path("feed", api.FeedApi.as_view(), name="api-feed"),
    path("posts", api.PostCreateApi.as_view(), name="api-post-create"),
    path("posts/<int:post_id>", api.PostDetailApi.as_view(), name="api-post-detail"),
    path("posts/<int:post_id>/like", api.LikeApi.as_view(), name="api-post-like"),
    path("posts/<int:post_id>/save", api.SaveApi.as_view(), name="api-post-save"),
    path("me/saved", api.SavedListApi.as_view(), name="api-saved"),
    path("tags", api.TagSearchApi.as_view(), name="api-tag-search"),
    path("tags/<str:name>", api.TagDetailApi.as_view(), name="api-tag-detail"),
    path("tags/<str:name>/posts", api.TagPostsApi.as_view(), name="api-tag-posts"),
    path("explore", api.ExploreApi.as_view(), name="api-explore"),
    path("posts/<int:post_id>/comments", api.CommentListApi.as_view(), name="api-post-comments"),
    path("comments/<int:comment_id>", api.CommentDetailApi.as_view(), name="api-comment-detail"),
    path("users/<str:username>/posts", api.UserPostsApi.as_view(), name="api-user-posts"),
    path("stories", story_api.StoryTrayCreateApi.as_view(), name="api-stories"),
    path("stories/<int:story_id>", story_api.StoryDetailApi.as_view(), name="api-story-detail"),
    path("stories/<int:story_id>/seen", story_api.StorySeenApi.as_view(), name="api-story-seen"),
    path("stories/<int:story_id>/viewers", story_api.StoryViewersApi.as_view(), name="api-story-viewers"),
    path("users/<str:username>/stories", story_api.UserStoriesApi.as_view(), name="api-user-stories"),
]
