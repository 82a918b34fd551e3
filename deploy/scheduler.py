"""The compose stack's scheduler: runs management commands at set times, one at a time.

    python deploy/scheduler.py            # run the schedule forever (the `scheduler` service)
    python deploy/scheduler.py --list     # print the schedule and each job's next run

The schedule comes from SCHEDULE (UTC), entries separated by `;`, each `HH:MM command [args]`
(shell-quoted, no `;` inside) where HH may be `*` for every hour:

    03:30 db_maintenance; *:15 prune_stories; 04:30 prune_events      (the default)

Each job runs as `python manage.py <command> [args]` in the project folder, its output going
to this process's. A command that fails, hangs past SCHEDULER_JOB_TIMEOUT seconds (4 hours by
default) or does not exist (yet) is logged with its status, and the schedule goes on: the
scheduler itself only stops on SIGTERM/SIGINT. Uses the standard library only.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEDULE = "03:30 db_maintenance; *:15 prune_stories; 04:30 prune_events"

log = logging.getLogger("scheduler")


@dataclass(frozen=True)
class Job:
    hour: int | None  # None: every hour
    minute: int
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.argv[0]

    @property
    def when(self) -> str:
        return f"{'*' if self.hour is None else f'{self.hour:02d}'}:{self.minute:02d}"

    def next_run(self, after: datetime) -> datetime:
        """The first time strictly after `after` at which this job is due."""
        base = after.replace(second=0, microsecond=0)
        if self.hour is None:
            candidate = base.replace(minute=self.minute)
            step = timedelta(hours=1)
        else:
            candidate = base.replace(hour=self.hour, minute=self.minute)
            step = timedelta(days=1)
        while candidate <= after:
            candidate += step
        return candidate


def parse_schedule(text: str) -> list[Job]:
    jobs = []
    for entry in text.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        when, _, command = entry.partition(" ")
        hour_text, sep, minute_text = when.partition(":")
        try:
            argv = tuple(shlex.split(command))
        except ValueError as exc:
            raise ValueError(f"SCHEDULE: {exc} in {entry!r}") from None
        if not sep or not argv or not minute_text.isdigit() or not (hour_text == "*" or hour_text.isdigit()):
            raise ValueError(f"SCHEDULE: expected 'HH:MM command' or '*:MM command', got {entry!r}")
        hour = None if hour_text == "*" else int(hour_text)
        minute = int(minute_text)
        if (hour is not None and hour > 23) or minute > 59:
            raise ValueError(f"SCHEDULE: no such time in {entry!r}")
        jobs.append(Job(hour, minute, argv))
    if not jobs:
        raise ValueError("SCHEDULE is empty")
    return jobs


def run_job(job: Job, *, timeout: float, python: str = sys.executable) -> int:
    """Runs one job to its end; returns its exit status (never raises for the job's sake)."""
    command = [python, "manage.py", *job.argv]
    log.info("starting %s", shlex.join(job.argv))
    started = time.monotonic()
    try:
        status = subprocess.run(command, cwd=ROOT, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        log.error("%s: still running after %.0f s; stopped it", job.name, timeout)
        return -1
    except OSError as exc:
        log.error("%s: could not start: %s", job.name, exc)
        return -1
    elapsed = time.monotonic() - started
    if status == 0:
        log.info("%s: done in %.1f s", job.name, elapsed)
    else:
        log.error("%s: failed with exit status %s after %.1f s; the schedule goes on", job.name, status, elapsed)
    return status


def available_commands(python: str = sys.executable) -> set[str] | None:
    """The management commands this project has, or None when Django cannot be asked."""
    try:
        result = subprocess.run(
            [python, "manage.py", "help", "--commands"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}


class Scheduler:
    def __init__(self, jobs: list[Job], *, timeout: float, clock=lambda: datetime.now(UTC), runner=run_job):
        self.jobs = jobs
        self.timeout = timeout
        self.clock = clock
        self.runner = runner
        self.stopping = threading.Event()
        now = clock()
        self.due = {job: job.next_run(now) for job in jobs}

    def run_due(self) -> list[Job]:
        """Runs every job whose time has come, in schedule order; plans each one's next run."""
        ran = []
        for job in self.jobs:
            if self.stopping.is_set() or self.due[job] > self.clock():
                continue
            try:
                self.runner(job, timeout=self.timeout)
            except Exception:  # noqa: BLE001 - the scheduler outlives any job
                log.exception("%s: the runner failed; the schedule goes on", job.name)
            self.due[job] = job.next_run(self.clock())
            ran.append(job)
        return ran

    def seconds_to_next(self) -> float:
        return max(0.0, (min(self.due.values()) - self.clock()).total_seconds())

    def forever(self) -> None:
        for job in self.jobs:
            log.info("%s %s, next at %s", job.when, shlex.join(job.argv), self.due[job].isoformat(timespec="minutes"))
        while not self.stopping.is_set():
            self.run_due()
            # Short naps: a stop is seen at once and a clock change within a minute.
            self.stopping.wait(min(60.0, self.seconds_to_next()) + 0.05)
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Runs management commands on a schedule (SCHEDULE, UTC).")
    parser.add_argument("--list", action="store_true", help="print the schedule and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s scheduler %(levelname)s %(message)s",
        stream=sys.stdout,
    )
    jobs = parse_schedule(os.environ.get("SCHEDULE") or DEFAULT_SCHEDULE)
    timeout = float(os.environ.get("SCHEDULER_JOB_TIMEOUT", str(4 * 3600)))
    scheduler = Scheduler(jobs, timeout=timeout)
    if args.list:
        for job in jobs:
            print(f"{job.when} {shlex.join(job.argv)}  next {scheduler.due[job].isoformat(timespec='minutes')}")
        return 0
    known = available_commands()
    if known is not None:
        for job in jobs:
            if job.name not in known:
                log.warning("%s is not a command of this project (yet): it will be tried at its time anyway", job.name)

    def stop(signum, frame):
        scheduler.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
