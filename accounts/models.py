import re
import secrets

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.crypto import EncryptedTextField, KeyedHashField

# The username rule, the one copy: the model, its database constraint, registration and
# every lookup by name check it here (the browser reads it from the sign-up page's pattern).
USERNAME_CHARS = r"[A-Za-z0-9_.]"
USERNAME_MIN, USERNAME_MAX = 3, 30
USERNAME_PATTERN = rf"^{USERNAME_CHARS}{{{USERNAME_MIN},{USERNAME_MAX}}}$"
USERNAME_MESSAGE = f"A username is {USERNAME_MIN} to {USERNAME_MAX} letters, digits, underscores or dots."
USERNAME_RE = re.compile(USERNAME_PATTERN)
username_validator = RegexValidator(USERNAME_PATTERN, USERNAME_MESSAGE)


def is_username(value) -> bool:
    """True for a string that follows the username rule (whether or not anyone has it)."""
    return isinstance(value, str) and USERNAME_RE.fullmatch(value) is not None


class User(AbstractUser):
    """A person. Counts are denormalized and kept right by the services with F() updates.

    The email address is encrypted at rest like DM bodies; `email_hash` (its HMAC,
    casefolded, set on save) finds an account by address and keeps addresses unique.
    """

    username = models.CharField(max_length=30, unique=True, validators=[username_validator])
    # Null for an account registered with an address that belonged to another account
    # already (registration does not tell; accounts.services.user_register).
    email = EncryptedTextField(null=True, blank=True)  # type: ignore[assignment]  # unlike AbstractUser's
    email_hash = KeyedHashField(source="email", casefold=True, unique=True, null=True, editable=False)
    full_name = models.CharField(max_length=100, blank=True)
    bio = models.CharField(max_length=150, blank=True)
    avatar = models.ImageField(upload_to="avatars/%Y/%m/", blank=True)
    follower_count = models.PositiveIntegerField(default=0)
    following_count = models.PositiveIntegerField(default=0)
    post_count = models.PositiveIntegerField(default=0)
    # A private account's posts, stories and follow lists are for its approved followers
    # (accounts.selectors.content_visible is the one rule); following it is by request.
    is_private = models.BooleanField(default=False)

    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(username__regex=USERNAME_PATTERN), name="user_username_format"),
        ]
        indexes = [models.Index(F("username").asc(), name="user_username_prefix")]

    def __str__(self) -> str:
        return self.username


class Follow(models.Model):
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_set")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_set")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_unique"),
            models.CheckConstraint(condition=~Q(follower=F("followee")), name="follow_not_self"),
        ]
        indexes = [
            models.Index(fields=["followee", "-created_at"], name="follow_followee_recent"),
            models.Index(fields=["follower", "-created_at"], name="follow_follower_recent"),
        ]


class FollowRequest(models.Model):
    """A request to follow a private account, pending until its owner accepts (it becomes a
    Follow) or declines, or the requester withdraws it."""

    requester = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follow_requests_made")
    target = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follow_requests_received")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["requester", "target"], name="follow_request_unique"),
            models.CheckConstraint(condition=~Q(requester=F("target")), name="follow_request_not_self"),
        ]
        indexes = [models.Index(F("target"), F("created_at").desc(), F("id").desc(), name="follow_request_target")]


class Block(models.Model):
    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="block_not_self"),
        ]
        indexes = [models.Index(fields=["blocked", "blocker"], name="block_reverse")]


class Credential(models.Model):
    """What a person is signed in with: an API token or a browser session.

    Only a SHA-256 digest of the secret is stored (`digest`: of the token key, or of the
    session key); a session also keeps its key encrypted (`session_key`), so revoking it can
    end the Django session. `last_used_at` moves at most once per CREDENTIAL_TOUCH_SECONDS,
    so using a credential costs no write per request; a token unused for TOKEN_TTL_DAYS has
    expired (accounts.credentials).
    """

    KIND_TOKEN = "token"
    KIND_SESSION = "session"
    KINDS = [(KIND_TOKEN, "API token"), (KIND_SESSION, "browser session")]
    USER_AGENT_MAX = 256

    kind = models.CharField(max_length=8, choices=KINDS, default=KIND_TOKEN)
    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="credentials")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    user_agent = models.CharField(max_length=USER_AGENT_MAX, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    session_key = EncryptedTextField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-last_used_at"], name="credential_user_recent")]

    @staticmethod
    def new_key() -> str:
        return secrets.token_hex(20)


class ExportJob(models.Model):
    """A zip of one person's own data, made off the request path (accounts.export) and
    downloadable once: after the download, the file is deleted and the job is `downloaded`.
    The file sits under EXPORT_ROOT (not the media directory: nobody else can fetch it)."""

    PENDING, RUNNING, READY, FAILED, DOWNLOADED = "pending", "running", "ready", "failed", "downloaded"
    STATUSES = [(s, s) for s in (PENDING, RUNNING, READY, FAILED, DOWNLOADED)]

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="exports")
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="export_user_recent")]
