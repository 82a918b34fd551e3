"""Per-user throttles (429 with a JSON body). Rates come from THROTTLE_RATES."""

from functools import wraps
from types import SimpleNamespace

from rest_framework import throttling
from rest_framework.exceptions import Throttled

from core.errors import json_error


class ScopedThrottle(throttling.ScopedRateThrottle):
    """A view sets `throttle_scope` (login, register, post, comment, like, follow, message).

    Writes only: reads of a throttled view are not counted against the scope."""

    def allow_request(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            ident = request.user.pk
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def throttle_posts(view, *, scope: str):
    """Wraps a plain Django view (the admin's login form) so its POSTs count against a
    throttle scope, per user or per address like the API's: guessing passwords there is no
    cheaper than at /api/auth/login."""
    holder = SimpleNamespace(throttle_scope=scope)

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method == "POST":
            throttle = ScopedThrottle()
            if not throttle.allow_request(request, holder):
                response = json_error(429, "Too many attempts; try again later.", "throttled")
                wait = throttle.wait()
                if wait is not None:
                    response["Retry-After"] = str(max(1, int(wait)))
                return response
        return view(request, *args, **kwargs)

    return wrapped


def throttle_user_write(*, user, scope: str) -> None:
    """Counts one write of `user` against a throttle scope outside DRF (the websocket's
    `message.send`), sharing the bucket of the REST views; raises Throttled over the rate."""
    throttle = ScopedThrottle()
    request = SimpleNamespace(user=user, method="POST", META={})
    if not throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):
        raise Throttled(wait=throttle.wait())
