"""The test run's settings: the project's own (config.settings), read after the run's
environment defaults below. pytest-django loads the settings before it reads any conftest,
so the defaults live here, where they are set before Django reads a line. Processes the tests
start (daphne nodes, manage.py) inherit the environment and run config.settings itself."""

import os

os.environ.setdefault("HTTPS", "0")
os.environ.setdefault("DEBUG", "1")
# Generous throttles: tests that check throttling set their own rates.
os.environ.setdefault(
    "THROTTLE_RATES",
    "anon=100000/min,user=100000/min,login=100000/min,register=100000/min,post=100000/min,"
    "comment=100000/min,like=100000/min,follow=100000/min,message=100000/min",
)
# Redis pub/sub is shared by every database number: a prefix per run keeps runs apart, and
# each of `make test`'s workers (pytest-xdist, whose processes inherit the controller's
# environment) adds its own id to it, as it has its own test database.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
for _name in ("CHANNEL_PREFIX", "CACHE_PREFIX"):
    _prefix = os.environ.setdefault(_name, f"instaclone-test-{os.getpid()}")
    if _WORKER and not _prefix.endswith(f"-{_WORKER}"):
        os.environ[_name] = f"{_prefix}-{_WORKER}"

from config.settings import *  # noqa: E402, F403
