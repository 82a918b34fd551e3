"""Per-user throttles (429 with a JSON body). Rates come from THROTTLE_RATES."""

from rest_framework import throttling


class AnonRateThrottle(throttling.AnonRateThrottle):
    pass


class UserRateThrottle(throttling.UserRateThrottle):
    pass


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
