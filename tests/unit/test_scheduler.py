"""deploy/scheduler.py: the compose stack's scheduler for the maintenance commands."""

import importlib.util
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("instaclone_scheduler", ROOT / "deploy" / "scheduler.py")
scheduler = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = scheduler  # dataclasses look their module up
_spec.loader.exec_module(scheduler)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_default_schedule_runs_maintenance_nightly_stories_hourly_events_daily():
    jobs = scheduler.parse_schedule(scheduler.DEFAULT_SCHEDULE)
    assert [(job.when, job.argv) for job in jobs] == [
        ("03:30", ("db_maintenance",)),
        ("*:15", ("prune_stories",)),
        ("04:30", ("prune_events",)),
    ]


def test_next_runs_of_daily_and_hourly_jobs():
    daily, hourly = scheduler.parse_schedule("03:30 db_maintenance --analyze; *:15 prune_stories")
    assert daily.argv == ("db_maintenance", "--analyze")
    assert daily.next_run(at("2026-11-27T01:00:00")) == at("2026-11-27T03:30:00")
    assert daily.next_run(at("2026-11-27T03:30:00")) == at("2026-11-28T03:30:00")  # strictly after
    assert daily.next_run(at("2026-12-31T23:59:59")) == at("2027-01-01T03:30:00")
    assert hourly.next_run(at("2026-11-27T10:14:59")) == at("2026-11-27T10:15:00")
    assert hourly.next_run(at("2026-11-27T10:15:00")) == at("2026-11-27T11:15:00")
    assert hourly.next_run(at("2026-11-27T23:20:00")) == at("2026-11-28T00:15:00")


@pytest.mark.parametrize("bad", ["", "3.30 x", "24:00 x", "03:60 x", "03:30", "x:15 y", "*:* y", "03:30 x 'unclosed"])
def test_a_malformed_schedule_is_refused_at_start(bad):
    with pytest.raises(ValueError, match="SCHEDULE"):
        scheduler.parse_schedule(bad)


def test_a_failing_job_is_logged_and_the_others_still_run(caplog):
    # given: three jobs due at 03:30, the first raising in the runner, the second failing
    jobs = scheduler.parse_schedule("03:30 broken; 03:30 failing; 03:30 fine")
    now = {"t": at("2026-11-27T03:00:00")}
    ran = []

    def runner(job, *, timeout):
        ran.append(job.name)
        if job.name == "broken":
            raise RuntimeError("boom")
        return 1 if job.name == "failing" else 0

    sched = scheduler.Scheduler(jobs, timeout=10, clock=lambda: now["t"], runner=runner)
    assert sched.run_due() == [] and sched.seconds_to_next() == 30 * 60
    # when: their time comes
    now["t"] = at("2026-11-27T03:30:00")
    with caplog.at_level(logging.ERROR, logger="scheduler"):
        done = sched.run_due()
    # then: every one ran, the runner's exception was logged, and each is planned for tomorrow
    assert [job.name for job in done] == ran == ["broken", "failing", "fine"]
    assert "broken: the runner failed" in caplog.text
    assert set(sched.due.values()) == {at("2026-11-28T03:30:00")}


def test_a_missing_command_is_a_failed_run_not_a_dead_scheduler(caplog):
    # given: a command this project does not have (yet), run for real through manage.py
    (job,) = scheduler.parse_schedule("03:30 no_such_command_here")
    # when
    with caplog.at_level(logging.INFO, logger="scheduler"):
        status = scheduler.run_job(job, timeout=120)
    # then: a non-zero status, logged, nothing raised
    assert status != 0
    assert "no_such_command_here: failed with exit status" in caplog.text


def test_a_hanging_job_is_stopped_at_its_timeout(caplog):
    (job,) = scheduler.parse_schedule("03:30 shell -c '__import__(\"time\").sleep(30)'")
    with caplog.at_level(logging.ERROR, logger="scheduler"):
        assert scheduler.run_job(job, timeout=0.5) == -1
    assert "still running after" in caplog.text


def test_list_prints_the_schedule(capsys, monkeypatch):
    monkeypatch.setenv("SCHEDULE", "*:05 prune_stories")
    assert scheduler.main(["--list"]) == 0
    assert capsys.readouterr().out.startswith("*:05 prune_stories  next ")
