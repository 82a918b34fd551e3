import mimetypes
import posixpath
import time
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import FileResponse

from core.errors import UNAVAILABLE_ERRORS, json_error, unavailable_response
from core.metrics import HTTP_LATENCY


class RequestMetricsMiddleware:
    """Times every request into HTTP_LATENCY, labelled by method, route pattern (never the
    raw path: ids would make a label per object) and status. First in MIDDLEWARE, so it
    times the whole stack, static and media included."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        HTTP_LATENCY.labels(
            method=_method(request.method), route=_route(request), status=str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response


def _method(method: str | None) -> str:
    return method if method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS") else "other"


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.route or match.view_name or "unnamed"
    path = request.path_info
    if path.startswith(settings.STATIC_URL):
        return "static"
    if path.startswith(settings.MEDIA_URL):
        return "media"
    return "unmatched"


MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


# Policies for the pages the app borrows from libraries (the frontend's pages set their own,
# media responses theirs): each allows what that page loads, all of it from this origin.
# - /api/docs/ (Swagger UI, served split so its start-up script is a file of its own): its
#   template has one <style> block and the UI sets style attributes, so inline styles
#   (never inline script); icons are data: URIs; "Try it out" calls this origin's API.
# - /admin/: Django's admin has no inline script or style; avatars and post images may come
#   from object storage (https:).
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
ADMIN_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
CONTENT_SECURITY_POLICIES = (("/api/docs/", DOCS_POLICY), ("/admin/", ADMIN_POLICY))


class ContentSecurityPolicyMiddleware:
    """Gives the library pages (API docs, admin) a Content-Security-Policy that fits them,
    unless the response brought its own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            for prefix, policy in CONTENT_SECURITY_POLICIES:
                if request.path_info.startswith(prefix):
                    response["Content-Security-Policy"] = policy
                    break
        return response


class DatabaseUnavailableMiddleware:
    """While the database is unreachable: 503 with code `unavailable`, not a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, UNAVAILABLE_ERRORS):
            return unavailable_response()
        return None


# Longer than any name the app writes (uploads are `<folder>/%Y/%m/<uuid>.<ext>`), shorter than
# any file system's limit.
MAX_FILE_PATH_CHARS = 1024


def _not_found():
    return json_error(404, "Not found.", "not_found")


def _clean_relative(relative: str) -> str | None:
    """The path below a root, normalised, or None for one that cannot name a file there: a
    NUL or other control character (the OS refuses it), an escape upwards, or an
    overlong name."""
    if len(relative) > MAX_FILE_PATH_CHARS or any(ord(ch) < 32 or ord(ch) == 127 for ch in relative):
        return None
    clean = posixpath.normpath(relative).lstrip("/")
    if clean in ("", ".") or clean.startswith(".."):
        return None
    return clean


class StaticAndMediaMiddleware:
    """Serves /static/ and /media/ from this process, DEBUG or not, so one daphne process
    is a complete server. Paths are normalised and confined to their roots."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if request.method in ("GET", "HEAD"):
            if path.startswith(settings.STATIC_URL):
                return self._serve_static(path[len(settings.STATIC_URL) :])
            if path.startswith(settings.MEDIA_URL):
                return self._serve_file(Path(settings.MEDIA_ROOT), path[len(settings.MEDIA_URL) :], immutable=True)
        return self.get_response(request)

    def _serve_static(self, relative: str):
        clean = _clean_relative(relative)
        if clean is None:
            return _not_found()
        try:
            found = Path(settings.STATIC_ROOT) / clean
            if not found.is_file():
                located = finders.find(clean)
                if not located:
                    return _not_found()
                found = Path(located)
        except (ValueError, OSError):  # a name the file system refuses (too long, say)
            return _not_found()
        return self._response(found, immutable=False)

    def _serve_file(self, root: Path, relative: str, immutable: bool):
        clean = _clean_relative(relative)
        if clean is None:
            return _not_found()
        try:
            target = (root / clean).resolve()
            if not target.is_relative_to(root.resolve()) or not target.is_file():
                return _not_found()
        except (ValueError, OSError):  # a name the file system refuses (too long, say)
            return _not_found()
        # Uploads are user content: only the image types the app writes are shown inline;
        # anything else (an .html or .svg that reached the folder some other way) is a
        # download, and no media response may run script.
        content_type = MEDIA_TYPES.get(target.suffix.lower())
        response = self._response(target, immutable=immutable, content_type=content_type or "application/octet-stream")
        if content_type is None:
            response["Content-Disposition"] = "attachment"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response

    def _response(self, target: Path, immutable: bool, content_type: str | None = None):
        if content_type is None:
            content_type, _ = mimetypes.guess_type(str(target))
        response = FileResponse(target.open("rb"), content_type=content_type or "application/octet-stream")
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return response
