from django.urls import path

from frontend import views

urlpatterns = [
    path("", views.feed_page, name="feed"),
    path("login", views.login_page, name="login"),
    path("signup", views.signup_page, name="signup"),
    path("upload", views.upload_page, name="upload"),
    path("u/<str:username>", views.profile_page, name="profile"),
    path("p/<int:post_id>", views.post_page, name="post"),
    path("search", views.search_page, name="search"),
    path("t/<str:name>", views.tag_page, name="tag"),
    path("explore", views.explore_page, name="explore"),
    path("inbox", views.inbox_page, name="inbox"),
    path("inbox/<int:conversation_id>", views.conversation_page, name="conversation"),
    path("notifications", views.notifications_page, name="notifications"),
    path("settings", views.settings_page, name="settings"),
    path("forgot-password", views.forgot_password_page, name="forgot-password"),
    path("reset-password", views.reset_password_page, name="reset-password"),
]
