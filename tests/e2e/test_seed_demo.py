"""`python manage.py seed_demo` run as a person runs it, in real processes: on the embedded
default (a SQLite file) and on PostgreSQL it makes a browsable world (a daphne node serves
the demo login a full feed, tray and inbox), a second run changes nothing, and a database
holding anyone else is refused unless --force; and on a fresh checkout, `make run`'s
install plus seed_demo takes less than a minute of CPU (of wall clock on an idle machine)."""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, Database, Node, migrate, server_env

DEMO = {"username": "demo", "password": "lakeside-demo-2026"}
# The budget of a fresh checkout's install + migrate + seed_demo (seconds).
FRESH_BUDGET = float(os.environ.get("SEED_DEMO_BUDGET_SECONDS", "60"))

CENSUS = """
import json
from accounts.models import Follow, User
from chat.models import Conversation, Message
from feed.models import Comment, Like, Post, Story
from notifications.models import Notification
from django.db.models import Count, F, Q
print(json.dumps({
    "users": User.objects.count(),
    "avatars": User.objects.exclude(avatar="").count(),
    "posts": Post.objects.count(),
    "follows": Follow.objects.count(),
    "likes": Like.objects.count(),
    "comments": Comment.objects.count(),
    "tagged": Comment.objects.filter(body__contains="#").count() + Post.objects.filter(caption__contains="#").count(),
    "mentions": Comment.objects.filter(body__contains="@").count() + Post.objects.filter(caption__contains="@").count(),
    "stories": Story.objects.count(),
    "conversations": Conversation.objects.count(),
    "messages": Message.objects.count(),
    "notifications": Notification.objects.count(),
    "wrong_like_counts": Post.objects.annotate(n=Count("likes")).exclude(like_count=F("n")).count(),
    "wrong_follower_counts": User.objects.annotate(n=Count("follower_set")).exclude(follower_count=F("n")).count(),
}))
"""


def manage(env: dict, *args: str, check: bool = True, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=cwd, env=env, capture_output=True, text=True, check=check, timeout=600
    )


def census(env: dict) -> dict:
    return json.loads(manage(env, "shell", "-c", CENSUS).stdout.strip().splitlines()[-1])


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_env(request, tmp_path):
    """The environment of an empty, migrated database of each kind, with its own media."""
    env = server_env(MEDIA_ROOT=tmp_path / "media")
    env.pop("REDIS_URL", None)  # the embedded default: in-memory channel layer
    database = None
    if request.param == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'app.sqlite3'}"
        migrate(env)
    else:
        database = Database(prefix="instaclone_seed").migrate(env)
        env["DATABASE_URL"] = database.url
    yield env
    if database is not None:
        database.drop()


def test_seed_demo_makes_a_browsable_world_once(fresh_env):
    # when
    first = manage(fresh_env, "seed_demo")
    # then: it says how to log in, and the world is there
    assert "Log in at http://localhost:8000/login as demo / lakeside-demo-2026" in first.stdout
    world = census(fresh_env)
    assert world["users"] == 36 and world["avatars"] == 36
    assert world["posts"] >= 36 and world["follows"] >= 200 and world["likes"] >= 100
    assert world["comments"] >= 20 and world["tagged"] >= 20 and world["mentions"] >= 5
    assert world["stories"] >= 10 and world["conversations"] == 6 and world["messages"] >= 20
    assert world["notifications"] > 0
    assert world["wrong_like_counts"] == 0 and world["wrong_follower_counts"] == 0

    # when: it runs again
    again = manage(fresh_env, "seed_demo")
    # then: nothing changes
    assert "nothing to do" in again.stdout and "demo / lakeside-demo-2026" in again.stdout
    assert census(fresh_env) == world

    # and a server on that database shows the demo login a living app
    node = Node(fresh_env).start()
    try:
        with httpx.Client(base_url=node.http, timeout=30) as http:
            login = http.post("/api/auth/login", json=DEMO)
            assert login.status_code == 200, login.text
            auth = {"Authorization": f"Token {login.json()['token']}"}
            feed = http.get("/api/feed", headers=auth).json()["results"]
            assert len(feed) == 20 and {post["author"]["username"] for post in feed} - {"demo"}
            assert http.get(feed[0]["image_url"]).content[:3] == b"\xff\xd8\xff"
            tray = http.get("/api/stories", headers=auth).json()
            assert len(tray) >= 3 and any(not entry["all_seen"] for entry in tray)
            inbox = http.get("/api/conversations", headers=auth).json()["results"]
            assert len(inbox) >= 5 and all(c["last_message"] for c in inbox)
            assert http.get("/api/notifications", headers=auth).json()["results"]
    finally:
        node.stop()


def test_seed_demo_refuses_a_database_with_other_people_unless_forced(fresh_env):
    # given: someone who is not a demo person
    manage(
        fresh_env,
        "shell",
        "-c",
        "from accounts.models import User; User.objects.create(username='real_person', email='r@example.com')",
    )
    # when
    refused = manage(fresh_env, "seed_demo", check=False)
    # then
    assert refused.returncode != 0
    assert "holds 1 other account" in refused.stderr and "--force" in refused.stderr
    assert census(fresh_env)["users"] == 1
    # when forced, the demo people join, and the real person is untouched
    forced = manage(fresh_env, "seed_demo", "--force")
    assert "demo / lakeside-demo-2026" in forced.stdout
    assert census(fresh_env)["users"] == 37


def test_a_fresh_checkout_installs_and_seeds_the_demo_within_a_minute(tmp_path):
    # given: a fresh clone of this checkout's commit
    clone = tmp_path / "instaclone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT", "VIRTUAL_ENV")}
    env.update(HTTPS="0", DEBUG="1")
    # when: `make run`'s install and migrations, then seed_demo, as the README says
    python = str(clone / ".venv" / "bin" / "python")
    steps = [
        ("install", ["make", "install"]),
        ("migrate", [python, "manage.py", "migrate", "--noinput", "-v", "0"]),
        ("seed_demo", [python, "manage.py", "seed_demo", "--no-progress"]),
    ]
    timings = []
    output = ""
    for name, command in steps:
        started, cpu = time.monotonic(), _children_cpu()
        done = subprocess.run(command, cwd=clone, env=env, check=True, capture_output=True, text=True, timeout=900)
        timings.append((name, time.monotonic() - started, _children_cpu() - cpu))
        output = done.stdout
    elapsed = sum(wall for _, wall, _ in timings)
    cpu = sum(used for _, _, used in timings)
    # then: the world is there, within the budget. The budget holds the CPU time the three
    # steps take (on an idle machine, their wall clock): on a machine shared with other work
    # the wall clock also counts the waits for a core, so it is reported, and held to the
    # budget only when SEED_DEMO_WALL_CLOCK=1 says the machine is idle.
    report = ", ".join(f"{name} {wall:.1f} s ({used:.1f} s CPU)" for name, wall, used in timings)
    print(f"fresh checkout: {report}; {elapsed:.1f} s in all, {cpu:.1f} s CPU")
    assert "demo / lakeside-demo-2026" in output
    assert (clone / "db.sqlite3").exists()
    assert cpu < FRESH_BUDGET, f"{report}: {cpu:.1f} s of CPU, over the budget of {FRESH_BUDGET:.0f} s"
    if os.environ.get("SEED_DEMO_WALL_CLOCK") == "1":
        assert elapsed < FRESH_BUDGET, f"{report}: {elapsed:.1f} s, over the budget of {FRESH_BUDGET:.0f} s"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
