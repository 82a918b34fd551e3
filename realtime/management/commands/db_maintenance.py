"""`python manage.py db_maintenance`: what PostgreSQL's statistics call for, then the prunes.

On PostgreSQL (core/maintenance.py has the rules): `VACUUM (ANALYZE)` on tables past the
dead-tuple threshold, `ANALYZE` where statistics are stale, `REINDEX INDEX CONCURRENTLY` on
B-tree indexes past the bloat threshold; each step on its own connection with `lock_timeout`,
so it never holds up the app's writers longer than that. Then the prunes: events past the
retention period, expired sessions, users left in the online set by nodes that died, and
what the apps register (core.maintenance.prune_register: expired stories).

    python manage.py db_maintenance --dry-run     # the plan, with the numbers behind each step

On SQLite it runs `ANALYZE` and `VACUUM` on the whole file and says what it skipped. Each step
prints what it freed; a progress bar goes to stderr (`--no-progress` to leave it out). Exits
non-zero when a step failed (a step that could not get its lock in time is skipped, not
failed: the next run does it).
"""

import time
from datetime import timedelta

import psycopg
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError
from django.utils import timezone

from core import maintenance
from realtime import events, partitions, presence
from realtime.models import Event

DEFAULTS = maintenance.Thresholds()


class Progress:
    """A one-line progress bar on stderr: redrawn in place on a terminal, a line per step
    otherwise."""

    def __init__(self, stream, total: int, width: int = 24):
        self.stream, self.total, self.width, self.done = stream, total, width, 0
        self.interactive = stream is not None and stream.isatty()

    def advance(self, label: str) -> None:
        self.done += 1
        if self.stream is None:
            return
        filled = int(self.width * self.done / max(self.total, 1))
        text = f"[{'#' * filled}{'-' * (self.width - filled)}] {self.done}/{self.total} {label}"
        self.stream.write(("\r\033[K" + text) if self.interactive else text + "\n", ending="")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n", ending="")
            self.stream.flush()


class Command(BaseCommand):
    help = "VACUUM/ANALYZE/REINDEX where PostgreSQL's statistics call for it, then prune expired data."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print the plan with its numbers; change nothing")
        parser.add_argument(
            "--vacuum-threshold",
            type=int,
            default=DEFAULTS.vacuum_threshold,
            help=f"VACUUM a table with more dead tuples than this plus --vacuum-scale x live tuples "
            f"(default {DEFAULTS.vacuum_threshold})",
        )
        parser.add_argument(
            "--vacuum-scale",
            type=float,
            default=DEFAULTS.vacuum_scale,
            help=f"share of live tuples added to the vacuum threshold (default {DEFAULTS.vacuum_scale})",
        )
        parser.add_argument(
            "--analyze-threshold",
            type=int,
            default=DEFAULTS.analyze_threshold,
            help=f"ANALYZE a table with more rows changed since its last analyze than this plus "
            f"--analyze-scale x live tuples (default {DEFAULTS.analyze_threshold})",
        )
        parser.add_argument(
            "--analyze-scale",
            type=float,
            default=DEFAULTS.analyze_scale,
            help=f"share of live tuples added to the analyze threshold (default {DEFAULTS.analyze_scale})",
        )
        parser.add_argument(
            "--reindex-bloat",
            type=float,
            default=DEFAULTS.reindex_bloat,
            help=f"REINDEX CONCURRENTLY a B-tree index whose bloat exceeds this share (default {DEFAULTS.reindex_bloat})",
        )
        parser.add_argument(
            "--reindex-min-bytes",
            type=int,
            default=DEFAULTS.reindex_min_bytes,
            help=f"only indexes at least this large (default {DEFAULTS.reindex_min_bytes}, 1 MiB)",
        )
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=5.0,
            help="seconds a step waits for its lock before it is skipped (default 5)",
        )
        parser.add_argument(
            "--retention-days",
            type=int,
            default=None,
            help=f"prune events older than this (default EVENT_RETENTION_DAYS = {settings.EVENT_RETENTION_DAYS})",
        )
        parser.add_argument(
            "--partitions-ahead",
            type=int,
            default=2,
            help="on a partitioned event log, keep this many partitions ready past the current one (default 2)",
        )
        parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")

    def handle(self, *args, **options):
        days = settings.EVENT_RETENTION_DAYS if options["retention_days"] is None else options["retention_days"]
        if not 0 <= days <= 36500:
            raise CommandError("--retention-days must be between 0 and 36500.")
        if not 0 < options["lock_timeout"] <= 600:
            raise CommandError("--lock-timeout must be more than 0 and at most 600 seconds.")
        if not 0 <= options["reindex_bloat"] < 1:
            raise CommandError("--reindex-bloat must be at least 0 and below 1.")
        self.dry_run = options["dry_run"]
        self.progress_stream = None if options["no_progress"] else self.stderr
        self.failed = 0
        if settings.POSTGRES:
            thresholds = maintenance.Thresholds(
                vacuum_threshold=options["vacuum_threshold"],
                vacuum_scale=options["vacuum_scale"],
                analyze_threshold=options["analyze_threshold"],
                analyze_scale=options["analyze_scale"],
                reindex_bloat=options["reindex_bloat"],
                reindex_min_bytes=options["reindex_min_bytes"],
            )
            self.postgres(thresholds, lock_timeout_ms=int(options["lock_timeout"] * 1000))
        else:
            self.sqlite()
        self.prunes(
            timedelta(days=days),
            lock_timeout_ms=int(options["lock_timeout"] * 1000),
            ahead=options["partitions_ahead"],
        )
        if self.failed:
            raise CommandError(f"{self.failed} step(s) failed; see above.")

    def say(self, text: str) -> None:
        self.stdout.write(text)

    def postgres(self, thresholds: maintenance.Thresholds, *, lock_timeout_ms: int) -> None:
        with maintenance.connect(lock_timeout_ms=lock_timeout_ms) as conn:
            measured = "pgstatindex" if maintenance.pgstattuple_installed(conn) else "estimated from statistics"
            self.say(f"PostgreSQL maintenance (index bloat {measured}; lock_timeout {lock_timeout_ms} ms)")
            tables = maintenance.plan_tables(conn, thresholds)
            self.plan("Tables", tables)
            if self.dry_run:
                # Indexes are judged again after the tables' steps; this is today's view.
                self.plan("Indexes (on the current statistics)", maintenance.plan_indexes(conn, thresholds))
                return
            self.run_steps(conn, tables)
            indexes = maintenance.plan_indexes(conn, thresholds)
            self.plan("Indexes", indexes)
            self.run_steps(conn, indexes)

    def plan(self, title: str, steps: list[maintenance.Step]) -> None:
        self.say(f"{title}: {len(steps)} step(s)" + ("" if steps else ", nothing is due"))
        for step in steps:
            self.say(f"  {step.describe()}")

    def run_steps(self, conn, steps: list[maintenance.Step]) -> None:
        progress = Progress(self.progress_stream, len(steps))
        for step in steps:
            maintenance.run(conn, step)
            progress.advance(f"{step.action} {step.target}")
            self.say(f"{step.sql}: {step.result} ({step.seconds:.1f} s)")
            self.failed += 0 if step.ok or step.result.startswith("skipped") else 1
        progress.close()

    def sqlite(self) -> None:
        statements = list(maintenance.sqlite_steps())
        self.say("SQLite maintenance plan:")
        for statement, what in statements:
            self.say(f"  {statement}: {what}")
        self.say(
            "  skipped: REINDEX and the statistics-driven thresholds (PostgreSQL only; "
            "SQLite's VACUUM rebuilds every index anyway)"
        )
        if self.dry_run:
            return
        progress = Progress(self.progress_stream, len(statements))
        for statement, _what in statements:
            started = time.monotonic()
            before, after = maintenance.sqlite_run(statement)
            progress.advance(statement)
            self.say(
                f"{statement}: {before:,} -> {after:,} pages (freed {max(0, before - after):,}) "
                f"({time.monotonic() - started:.1f} s)"
            )
        progress.close()

    def prunes(self, retention: timedelta, *, lock_timeout_ms: int, ahead: int) -> None:
        cutoff = timezone.now() - retention
        if partitions.is_partitioned():
            self.partitions(cutoff, retention, lock_timeout_ms=lock_timeout_ms, ahead=ahead)
        elif self.dry_run:
            old = Event.objects.filter(created_at__lt=cutoff).count()
            self.say(f"Prunes: {old:,} event(s) older than {retention.days} day(s) (before {cutoff:%Y-%m-%d %H:%M})")
        else:
            pruned = events.prune(older_than=retention)
            self.say(f"prune events: deleted {pruned:,} older than {retention.days} day(s)")
        expired_sessions = Session.objects.filter(expire_date__lt=timezone.now())
        if self.dry_run:
            self.say(
                f"        {expired_sessions.count():,} expired session(s); "
                f"{presence.prune_stale(dry_run=True):,} stale online user(s)"
            )
            for prune in maintenance.PRUNES.values():
                self.say(f"        {prune.due():,} {prune.name}")
            return
        sessions, _ = expired_sessions.delete()
        self.say(f"prune sessions: deleted {sessions:,} expired")
        self.say(f"prune presence: {presence.prune_stale():,} stale online user(s) removed")
        for prune in maintenance.PRUNES.values():
            self.say(f"prune {prune.name}: deleted {prune.run():,}")

    def partitions(self, cutoff, retention: timedelta, *, lock_timeout_ms: int, ahead: int) -> None:
        """The partitioned event log: partitions created ahead, expired ones dropped."""
        ranges = partitions.missing(now=partitions.now(), ahead=ahead)
        expired = partitions.expired(cutoff=cutoff)
        if self.dry_run:
            self.say(f"Event log partitions ({settings.EVENT_PARTITION_DAYS} day(s) each): {len(ranges)} to create")
            for start, end in ranges:
                taken = partitions.default_rows(start, end)
                self.say(
                    f"  create {partitions.name_for(start)} [{start:%Y-%m-%d}, {end:%Y-%m-%d})"
                    + (f", taking {taken:,} row(s) from the default partition" if taken else "")
                )
            old = 0
            for partition in expired:
                rows, size = partitions.size(partition.name)
                old += rows
                self.say(
                    f"  drop {partition.name} (before {partition.end:%Y-%m-%d}): {rows:,} event(s), {size:,} bytes"
                )
            old += partitions.default_older(cutoff=cutoff)
            self.say(f"Prunes: {old:,} event(s) older than {retention.days} day(s) (before {cutoff:%Y-%m-%d %H:%M})")
            return
        for start, end in ranges:
            name = partitions.name_for(start)
            try:
                moved = partitions.create(start, end, lock_timeout_ms=lock_timeout_ms)
            except OperationalError as exc:
                if not isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                    raise
                self.say(f"create partition {name}: skipped: its lock was not free within lock_timeout")
                break  # the ranges follow each other: the next run goes on from here
            self.say(
                f"create partition {name} [{start:%Y-%m-%d}, {end:%Y-%m-%d})"
                + (f": took {moved:,} row(s) over from the default partition" if moved else "")
            )
        deleted = 0
        for partition in expired:
            rows, size = partitions.size(partition.name)
            try:
                partitions.drop(partition, lock_timeout_ms=lock_timeout_ms)
            except OperationalError as exc:
                if not isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                    raise
                self.say(f"drop partition {partition.name}: skipped: its lock was not free within lock_timeout")
                continue
            deleted += rows
            self.say(f"drop partition {partition.name}: {rows:,} event(s), freed {size:,} bytes")
        deleted += partitions.prune_default(cutoff=cutoff)
        self.say(f"prune events: deleted {deleted:,} older than {retention.days} day(s)")
