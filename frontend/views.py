"""Server-rendered shells of the browser app. Each page is a template plus an ES module
(static/frontend/pages/<name>.js) that talks to the REST API and the /ws/ gateway.

Pages that show a person's data need a session (redirect to /login); the shells carry no
user data except what the signed-in user may see anyway, and every object a URL names is
checked here before its shell is served (404 otherwise).
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from accounts.models import User, is_username
from accounts.selectors import is_blocked_by
from chat.models import Participant
from core.ids import is_id
from feed.hashtags import is_tag_name
from feed.models import Post
from frontend.limits import page_limits

LOGIN_URL = "/login"


def public_page(view):
    """A page anyone may open: GET only, sets the csrftoken cookie its scripts send back."""
    return require_GET(ensure_csrf_cookie(view))


def app_page(view):
    """A page of the signed-in app (others are sent to log in)."""
    return public_page(login_required(login_url=LOGIN_URL)(view))


# The pages load only their own scripts and styles (no inline code), so a policy can say so:
# an injected <script> or inline handler would not run. Images may also come from blob:
# (the upload preview) and another https origin (media on object storage).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data: https:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _with_policy(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    # Every page gets the server's limits: its scripts read them from the page (limits.py).
    context = {"limits": page_limits(), **context}
    return _with_policy(render(request, f"frontend/{template}.html", context, status=status))


def _shell(request: HttpRequest, page: str, title: str, **context) -> HttpResponse:
    return _render(request, page, {"page": page, "title": title, **context})


def _not_found(request: HttpRequest) -> HttpResponse:
    return _render(request, "404", {"page": "404", "title": "Not found"}, status=404)


def _safe_next(request: HttpRequest) -> str:
    target = request.GET.get("next", "")
    if (
        target
        and len(target) <= 2000
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        and target.startswith("/")
        and not target.startswith("//")
    ):
        return target
    return "/"


@public_page
def login_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_safe_next(request))
    return _shell(request, "login", "Log in", next_url=_safe_next(request))


@public_page
def signup_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("/")
    return _shell(request, "signup", "Sign up")


@app_page
def feed_page(request: HttpRequest) -> HttpResponse:
    return _shell(request, "feed", "Home")


@app_page
def upload_page(request: HttpRequest) -> HttpResponse:
    return _shell(request, "upload", "New post")


@app_page
def profile_page(request: HttpRequest, username: str) -> HttpResponse:
    # An account that blocked the viewer is as absent as one that never was.
    user = User.objects.filter(username=username, is_active=True).first() if is_username(username) else None
    if user is None or is_blocked_by(viewer_id=request.user.pk, user_id=user.pk):
        return _not_found(request)
    return _shell(request, "profile", f"@{username}", profile_username=username)


@app_page
def post_page(request: HttpRequest, post_id: int) -> HttpResponse:
    if not is_id(post_id):
        return _not_found(request)
    post = Post.objects.filter(pk=post_id).select_related("author").first()
    if post is None or is_blocked_by(viewer_id=request.user.pk, user_id=post.author_id):
        return _not_found(request)
    return _shell(
        request, "post", f"Post by @{post.author.username}", post_id=post.pk, post_author=post.author.username
    )


@app_page
def tag_page(request: HttpRequest, name: str) -> HttpResponse:
    if not is_tag_name(name):
        return _not_found(request)
    return _shell(request, "tag", f"#{name.lower()}", tag_name=name.lower())


@app_page
def explore_page(request: HttpRequest) -> HttpResponse:
    return _shell(request, "explore", "Explore")


@app_page
def search_page(request: HttpRequest) -> HttpResponse:
    return _shell(request, "search", "Search", query=request.GET.get("q", "")[:101])


@app_page
def inbox_page(request: HttpRequest) -> HttpResponse:
    return _shell(request, "inbox", "Messages")


@app_page
def conversation_page(request: HttpRequest, conversation_id: int) -> HttpResponse:
    # Only a participant may open a conversation; anyone else gets the same 404 as for a
    # conversation that does not exist.
    if (
        not is_id(conversation_id)
        or not Participant.objects.filter(conversation_id=conversation_id, user=request.user).exists()
    ):
        return _not_found(request)
    others = list(
        User.objects.filter(participations__conversation_id=conversation_id)
        .exclude(pk=request.user.pk)
        .order_by("username")
        .values_list("username", flat=True)
    )
    title = ", ".join(others) or request.user.username
    return _shell(request, "conversation", title, conversation_id=conversation_id, others=others)


@app_page
def notifications_page(request: HttpRequest) -> HttpResponse:
    return _shell(request, "notifications", "Notifications")


@app_page
def settings_page(request: HttpRequest) -> HttpResponse:
    return _shell(request, "settings", "Settings")


@public_page
def forgot_password_page(request: HttpRequest) -> HttpResponse:
    return _shell(request, "forgot_password", "Forgot password")


@public_page
def reset_password_page(request: HttpRequest) -> HttpResponse:
    # The link's uid and token stay in the URL; the page's script reads them from there.
    return _shell(request, "reset_password", "Choose a new password")
