from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.errors import api_not_found
from core.health import healthz, metrics
from core.throttling import throttle_posts

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Split: the UI's start-up script is served as a file (?script), so the page's policy
    # allows no inline script (core.middleware.DOCS_POLICY).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api/", include("accounts.urls")),
    path("api/", include("feed.urls")),
    path("api/", include("chat.urls")),
    path("api/", include("notifications.urls")),
    re_path(r"^api/", api_not_found, name="api-not-found"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/login/", throttle_posts(admin.site.login, scope="login")),
    path("admin/", admin.site.urls),
    path("", include("frontend.urls")),
]

handler400 = "core.errors.handler400"
handler403 = "core.errors.handler403"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
