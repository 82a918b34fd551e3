"""`python manage.py seed_demo [--scale small|medium] [--force] [--seed N]`: fills the
database with a demo world and prints a login.

- `small` (the default): a few dozen people with avatars, posts with generated photos,
  follows, likes, comments with hashtags and mentions, stories and conversations, made
  through the app's own services (frontend/demo/world.py); seconds on SQLite.
- `medium`: 10,000 people, 200,000 posts, 500,000 follows (a few accounts followed by
  thousands), 1,000,000 likes, inserted in bulk (COPY on PostgreSQL) for the benchmarks
  (frontend/demo/bulk.py); minutes.

Idempotent: a database that holds the demo world already is left as it is (the login is
printed again). A database that holds anyone else is refused unless `--force` is given,
so the command never mixes demo people into a real community by accident.
"""

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from frontend.demo import bulk, world


class Progress:
    """A one-line progress bar on stderr: redrawn in place on a terminal, a line per
    stage otherwise."""

    def __init__(self, stream, total: int, *, enabled: bool = True, width: int = 30):
        self.stream, self.total, self.width, self.enabled = stream, max(1, total), width, enabled
        self.done = 0
        self.stage = ""
        self.interactive = enabled and stream.isatty()
        self.started = time.monotonic()

    def __call__(self, stage: str, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        if stage != self.stage and not self.interactive:
            self.stream.write(f"seed_demo: {stage}…\n", ending="")
        self.stage = stage
        if self.interactive:
            fraction = min(self.done / self.total, 1.0)
            filled = int(self.width * fraction)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r[{bar}] {fraction:4.0%} {stage:<20}", ending="")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n", ending="")
            self.stream.flush()


class Command(BaseCommand):
    help = "Fills the database with a demo world (people, photos, follows, likes, comments, stories, messages)."

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=["small", "medium"], default="small")
        parser.add_argument("--force", action="store_true", help="seed even though the database holds other people")
        parser.add_argument("--seed", type=int, default=2026, help="the random seed (the same seed, the same world)")
        parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")

    def handle(self, *args, scale: str, force: bool, seed: int, no_progress: bool, **options):
        marker = world.DEMO_USERNAME if scale == "small" else bulk.MARKER_USERNAME
        if self.demo_emails(User.objects.filter(username=marker)):
            self.stdout.write(f"The {scale} demo world is there already: nothing to do.")
            self.print_login(scale)
            return
        others = User.objects.count() - len(self.demo_emails(User.objects.all()))
        if others and not force:
            raise CommandError(
                f"This database holds {others} other account(s): seed_demo adds demo people only to an empty "
                "database. Use --force to add them anyway."
            )
        # Not a demo person (that case returned above), so someone else's.
        if User.objects.filter(username__iexact=marker).exists():
            raise CommandError(f"The demo username {marker} is taken by another account.")
        started = time.monotonic()
        if scale == "small":
            progress = Progress(self.stderr, world.small_world_steps(), enabled=not no_progress)
            world.build_small_world(seed=seed, progress=progress)
        else:
            progress = Progress(self.stderr, bulk.MEDIUM.total_steps, enabled=not no_progress)
            bulk.build_medium_world(seed=seed, progress=progress)
        progress.close()
        self.stdout.write(f"Seeded the {scale} demo world in {time.monotonic() - started:.1f} s.")
        self.print_login(scale)

    @staticmethod
    def demo_emails(users) -> set[str]:
        """The demo addresses among these users' (addresses are encrypted at rest, so they
        are read and compared here, not in SQL)."""
        suffix = f"@{world.DEMO_DOMAIN}"
        return {
            email
            for email in users.values_list("email", flat=True).iterator(chunk_size=2000)
            if email and email.endswith(suffix)
        }

    def print_login(self, scale: str) -> None:
        username = world.DEMO_USERNAME if scale == "small" else bulk.MARKER_USERNAME
        self.stdout.write(f"Log in at http://localhost:8000/login as {username} / {world.DEMO_PASSWORD}")
        sys.stdout.flush()
