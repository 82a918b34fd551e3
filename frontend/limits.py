"""The server's limits and its username rule, as the browser pages need them.

The page templates print these into `<body data-…>` and into their inputs' `maxlength`,
`minlength` and `pattern`, and the page scripts read them from there: a script never keeps
its own copy of a limit, so the form checks what the API checks.
"""

from django.conf import settings
from django.contrib.auth.password_validation import MinimumLengthValidator, get_default_password_validators

from accounts.models import USERNAME_CHARS, USERNAME_MAX, USERNAME_MESSAGE, USERNAME_MIN
from accounts.services import BIO_MAX, FULL_NAME_MAX
from chat.models import BODY_MAX
from feed.models import CAPTION_MAX, COMMENT_MAX, POST_IMAGES_MAX

# The username rule without its anchors: an <input pattern> is anchored for it, and a
# @mention sits inside other text.
USERNAME_UNANCHORED = f"{USERNAME_CHARS}{{{USERNAME_MIN},{USERNAME_MAX}}}"


def _password_min() -> int:
    lengths = [v.min_length for v in get_default_password_validators() if isinstance(v, MinimumLengthValidator)]
    return max(lengths, default=0)


def page_limits() -> dict[str, int | str]:
    """What every page template gets as `limits` (settings are read per request: tests
    override them)."""
    return {
        "username_pattern": USERNAME_UNANCHORED,
        "username_min": USERNAME_MIN,
        "username_max": USERNAME_MAX,
        "username_message": USERNAME_MESSAGE,
        "password_min": _password_min(),
        "full_name_max": FULL_NAME_MAX,
        "bio_max": BIO_MAX,
        "caption_max": CAPTION_MAX,
        "comment_max": COMMENT_MAX,
        "body_max": BODY_MAX,
        "image_max_bytes": settings.IMAGE_MAX_BYTES,
        "post_images_max": POST_IMAGES_MAX,
        # As the server's own "larger than N MB" errors say it (core/images.py).
        "image_max_mb": settings.IMAGE_MAX_BYTES // (1024 * 1024),
    }
