"""Feed and posting benchmark on PostgreSQL: does the work grow with the data?

Seeds a fresh database (its own, dropped afterwards) with AUTHORS authors of POSTS posts in
all, then measures, in process through the real URL stack:
  - GET /api/feed for a viewer who follows few people and one who follows many: queries per
    page (must be equal and constant) and the median time per page, first page and deep;
  - POST /api/posts by an author with no followers and by one with FOLLOWERS followers, some
    online: the request must cost the same (the fan-out runs off the request path).
Prints the figures and the ratios; the ratios are what to compare between runs.

    DATABASE_URL=postgres://postgres@localhost:5432/instaclone .venv/bin/python bench/feed.py [--posts 20000]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import Database, server_env  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--authors", type=int, default=1000)
    parser.add_argument("--followers", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    database = Database(prefix="instaclone_bench").migrate(server_env())
    os.environ.update(
        {
            "DATABASE_URL": database.url,
            "HTTPS": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "THROTTLE_RATES": "user=1000000/min,post=1000000/min",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    os.environ.setdefault("MEDIA_ROOT", str(Path("/tmp") / f"{database.name}-media"))
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        database.drop()


def run(args) -> None:
    import warnings

    warnings.simplefilter("ignore")
    import django

    django.setup()
    from asgiref.sync import async_to_sync
    from django.conf import settings
    from django.db import connection
    from rest_framework.test import APIClient

    from accounts.models import Follow, User
    from feed import fanout
    from feed.models import Post
    from realtime import presence
    from tests.factories import image_upload

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    print(f"seeding {args.authors} authors, {args.posts} posts, {args.followers} followers ...", flush=True)
    authors = User.objects.bulk_create(
        [User(username=f"author{i}", email=f"author{i}@example.com") for i in range(args.authors)]
    )
    Post.objects.bulk_create(
        [
            Post(author=authors[i % len(authors)], image="posts/x.jpg", thumbnail="thumbs/x.jpg", caption=f"post {i}")
            for i in range(args.posts)
        ],
        batch_size=5000,
    )
    few, many = User.objects.bulk_create(
        [User(username="few", email="few@x.com"), User(username="many", email="many@x.com")]
    )
    Follow.objects.bulk_create([Follow(follower=few, followee=a) for a in authors[:5]])
    Follow.objects.bulk_create([Follow(follower=many, followee=a) for a in authors[: len(authors) // 2]])
    lonely, popular = User.objects.bulk_create(
        [User(username="lonely", email="l@x.com"), User(username="popular", email="p@x.com")]
    )
    fans = User.objects.bulk_create([User(username=f"fan{i}", email=f"fan{i}@x.com") for i in range(args.followers)])
    Follow.objects.bulk_create([Follow(follower=f, followee=popular) for f in fans], batch_size=5000)
    async_to_sync(presence.refresh)(sockets=[(f.pk, f"bench.{f.pk}") for f in fans[::10]])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    def client(user) -> APIClient:
        c = APIClient()
        c.force_authenticate(user)
        return c

    print("\nfeed page (20 posts)")
    print(f"{'viewer':<28}{'queries':>8}{'first page ms':>15}{'page 5 ms':>12}")
    results = {}
    for viewer, label in ((few, "follows 5"), (many, f"follows {len(authors) // 2}")):
        c = client(viewer)
        queries = []
        with connection.execute_wrapper(lambda execute, sql, *a, log=queries: log.append(sql) or execute(sql, *a)):
            assert c.get("/api/feed").status_code == 200
        url = "/api/feed"
        for _ in range(4):
            url = c.get(url).json()["next"]
        first = median_ms(lambda c=c: c.get("/api/feed"), args.repeat)
        deep = median_ms(lambda c=c, url=url: c.get(url), args.repeat)
        results[label] = (len(queries), first, deep)
        print(f"{label:<28}{len(queries):>8}{first:>15.2f}{deep:>12.2f}")
    (q1, f1, d1), (q2, f2, d2) = results.values()
    print(f"ratio many/few: queries {q2 / q1:.2f}, first page {f2 / f1:.2f}, page 5 {d2 / d1:.2f}")

    print("\ncreate a post (request time; fan-out runs after, off the request path)")
    times = {}
    for author, label in ((lonely, "0 followers"), (popular, f"{args.followers} followers")):
        c = client(author)
        samples = []
        for _ in range(max(5, args.repeat // 2)):
            upload = image_upload()
            start = time.perf_counter()
            c.post("/api/posts", {"image": upload, "caption": "hi"}, format="multipart")
            samples.append((time.perf_counter() - start) * 1000)
            fanout.wait_idle(60)  # outside the timing: the next request starts on a quiet machine
        times[label] = statistics.median(samples)
    start = time.perf_counter()
    client(popular).post("/api/posts", {"image": image_upload(), "caption": "timed fan-out"}, format="multipart")
    fanout.wait_idle(60)
    fan_ms = (time.perf_counter() - start) * 1000
    for label, ms in times.items():
        print(f"{label:<28}{ms:>10.2f} ms")
    (_, t0), (_, t1) = times.items()
    print(f"ratio: {t1 / t0:.2f} (1.0 = posting cost does not grow with followers)")
    print(f"request + complete fan-out to {len(fans[::10])} online of {args.followers} followers: {fan_ms:.1f} ms")


if __name__ == "__main__":
    main()
