"""Test-run environment defaults, set before Django reads its settings."""

import os

os.environ.setdefault("HTTPS", "0")
os.environ.setdefault("DEBUG", "1")
# Generous throttles: tests that check throttling set their own rates.
os.environ.setdefault(
    "THROTTLE_RATES",
    "anon=100000/min,user=100000/min,login=100000/min,register=100000/min,post=100000/min,"
    "comment=100000/min,like=100000/min,follow=100000/min,message=100000/min",
)
# Redis pub/sub is shared by every database number: a prefix per run keeps runs apart.
os.environ.setdefault("CHANNEL_PREFIX", f"instaclone-test-{os.getpid()}")
os.environ.setdefault("CACHE_PREFIX", f"instaclone-test-{os.getpid()}")
