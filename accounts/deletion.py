"""Deleting an account (DESIGN 6.6): the person and everything only theirs.

In one transaction: every credential is revoked (their sockets close after commit), the
apps above undo what the cascade would get wrong (`accounts.signals.user_deleting`: counts
on other people's posts, their messages in other people's conversations, which stay as
from a deleted account with the body erased), other people's follow counts drop, and the
row goes with everything that cascades from it (posts, comments, likes, follows, blocks,
notifications, stories, event log, exports). Files (avatar, post images, export zips) are
deleted after commit.
"""

import logging

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from rest_framework import exceptions

from accounts.cache import profile_cache_invalidate
from accounts.credentials import credentials_revoke_all
from accounts.export import export_path
from accounts.models import ExportJob, Follow, User
from accounts.signals import user_deleting

log = logging.getLogger(__name__)


@transaction.atomic
def user_delete(*, user: User, password: str) -> None:
    """Deletes the account after checking its password (ValidationError, field password)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.check_password(password):
        raise exceptions.ValidationError({"password": ["Wrong password."]})
    credentials_revoke_all(user=user)
    user_deleting.send(sender=User, user=user)
    followed = list(Follow.objects.filter(follower=user).values_list("followee_id", flat=True))
    followers = list(Follow.objects.filter(followee=user).values_list("follower_id", flat=True))
    User.objects.filter(pk__in=followed).update(follower_count=Greatest(F("follower_count") - 1, 0))
    User.objects.filter(pk__in=followers).update(following_count=Greatest(F("following_count") - 1, 0))
    names = list(User.objects.filter(pk__in=set(followed) | set(followers)).values_list("username", flat=True))
    profile_cache_invalidate(user.username, *names)
    files = [user.avatar] if user.avatar else []
    exports = [export_path(job) for job in ExportJob.objects.filter(user=user)]
    user.delete()
    transaction.on_commit(lambda: _delete_files(files, exports), robust=True)


def _delete_files(files, paths) -> None:
    for field_file in files:
        try:
            field_file.storage.delete(field_file.name)
        except Exception:  # noqa: BLE001 - an orphaned file is harmless
            log.warning("could not delete %s", field_file.name, exc_info=True)
    for path in paths:
        path.unlink(missing_ok=True)
