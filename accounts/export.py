"""A person's own data as a zip (DESIGN 6.6), made off the request path, downloadable once.

`export_request` records a job and, after commit, hands it to a small thread pool. The
worker writes `EXPORT_ROOT/<random>.zip`: `profile.json`, `follows.json` and
`sessions.json` from accounts, and whatever the apps above add through the
`accounts.signals.user_export` signal (posts with their images, comments, likes, stories,
conversations with the messages decrypted, notifications), each as JSON, images as files.
The job moves pending -> running -> ready (or failed); the first download streams the file,
deletes it and marks the job downloaded. A job left running by a process that died stays
so; the person asks for a new one.
"""

import json
import logging
import os
import secrets
import threading
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, transaction
from django.utils import timezone

from accounts.models import Block, Credential, ExportJob, Follow, User
from accounts.serializers import avatar_url
from accounts.signals import user_export

log = logging.getLogger(__name__)

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accounts-export")
_pending: set[Future] = set()
_lock = threading.Lock()


class Archive:
    """What the export's contributors write to: JSON documents and stored files."""

    def __init__(self, zip_file: zipfile.ZipFile):
        self.zip = zip_file
        self.names: set[str] = set()

    def add_json(self, name: str, data) -> None:
        self.zip.writestr(f"{name}.json", json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1))

    def add_file(self, field_file) -> str | None:
        """Copies a stored file (an ImageField's value) under `files/`; returns its name in
        the zip, or None when the file is missing."""
        if not field_file:
            return None
        name = f"files/{field_file.name}"
        if name in self.names:
            return name
        try:
            with field_file.storage.open(field_file.name, "rb") as source, self.zip.open(name, "w") as target:
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
        except OSError:
            log.warning("export: %s is missing", field_file.name)
            return None
        self.names.add(name)
        return name


def export_path(job: ExportJob) -> Path:
    return Path(settings.EXPORT_ROOT) / job.file_name


@transaction.atomic
def export_request(*, user: User) -> ExportJob:
    """Records an export of the user's data and starts it after commit."""
    job = ExportJob.objects.create(user=user, file_name=f"{secrets.token_hex(16)}.zip")
    transaction.on_commit(lambda: _schedule(job.pk), robust=True)
    return job


def _schedule(job_id: int) -> None:
    future = _executor.submit(_run, job_id)
    with _lock:
        _pending.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future) -> None:
    with _lock:
        _pending.discard(future)


def wait_idle(timeout: float = 30.0) -> bool:
    """Waits until every scheduled export has finished; False on timeout (for tests)."""
    with _lock:
        pending = set(_pending)
    if not pending:
        return True
    _, not_done = wait(pending, timeout=timeout)
    return not not_done


def _run(job_id: int) -> None:
    close_old_connections()
    try:
        updated = ExportJob.objects.filter(pk=job_id, status=ExportJob.PENDING).update(status=ExportJob.RUNNING)
        if not updated:
            return
        job = ExportJob.objects.select_related("user").get(pk=job_id)
        try:
            export_build(job)
        except Exception:
            log.exception("export %s failed", job_id)
            export_path(job).unlink(missing_ok=True)
            ExportJob.objects.filter(pk=job_id).update(status=ExportJob.FAILED, finished_at=timezone.now())
            return
        ExportJob.objects.filter(pk=job_id).update(status=ExportJob.READY, finished_at=timezone.now())
    finally:
        close_old_connections()


def export_build(job: ExportJob) -> Path:
    """Writes the zip of the job's user (in the calling thread)."""
    path = export_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zip_file:
        archive = Archive(zip_file)
        _add_account(job.user, archive)
        user_export.send(sender=User, user=job.user, archive=archive)
    os.replace(partial, path)
    return path


def _add_account(user: User, archive: Archive) -> None:
    archive.add_json(
        "profile",
        {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "full_name": user.full_name,
            "bio": user.bio,
            "avatar": archive.add_file(user.avatar),
            "avatar_url": avatar_url(user),
            "is_private": user.is_private,
            "date_joined": user.date_joined,
            "last_login": user.last_login,
        },
    )
    following = Follow.objects.filter(follower=user).select_related("followee").order_by("created_at")
    followers = Follow.objects.filter(followee=user).select_related("follower").order_by("created_at")
    blocks = Block.objects.filter(blocker=user).select_related("blocked").order_by("created_at")
    archive.add_json(
        "follows",
        {
            "following": [{"username": f.followee.username, "since": f.created_at} for f in following.iterator()],
            "followers": [{"username": f.follower.username, "since": f.created_at} for f in followers.iterator()],
            "blocked": [{"username": b.blocked.username, "since": b.created_at} for b in blocks.iterator()],
        },
    )
    archive.add_json(
        "sessions",
        [
            {
                "kind": c.kind,
                "created_at": c.created_at,
                "last_used_at": c.last_used_at,
                "user_agent": c.user_agent,
                "ip": c.ip,
            }
            for c in Credential.objects.filter(user=user).order_by("created_at")
        ],
    )


def export_status(*, user: User, job_id: int) -> ExportJob | None:
    """The user's export job with this id, or None."""
    return ExportJob.objects.filter(user=user, pk=job_id).first()


def export_take(*, user: User, job_id: int):
    """Hands over a ready export once: returns an open file (deleted from disk already, so
    nobody can fetch it again) or None when the job is not the user's or not ready."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(user=user, pk=job_id, status=ExportJob.READY).first()
        if job is None:
            return None
        path = export_path(job)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - the response closes it
        except OSError:
            ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.FAILED)
            return None
        job.status = ExportJob.DOWNLOADED
        job.save(update_fields=["status"])
    path.unlink(missing_ok=True)
    return handle
