"""Explore and tag pages on a PostgreSQL database of 200,000 posts: a constant number of
queries per page, and the plans read indexes, not whole tables (DESIGN 6.3)."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Block, Follow, User

POSTS = 200_000
USERS = 2_000

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    users = User.objects.bulk_create(
        [User(username=f"scale{i}", email=f"scale{i}@example.com", is_private=i % 10 == 0) for i in range(USERS)]
    )
    first_id = users[0].pk
    with connection.cursor() as cursor:
        # One statement: 200,000 posts over the last 30 days (one every 13 seconds), by
        # users round-robin, with some likes and comments counted.
        cursor.execute(
            """
            INSERT INTO feed_post (author_id, image, thumbnail, image_width, image_height, caption,
                                   created_at, like_count, comment_count)
            SELECT %s + (g %% %s), 'posts/x.jpg', 'thumbs/x.jpg', 1, 1,
                   CASE WHEN g %% 10 = 0 THEN '#common' ELSE '' END,
                   now() - g * interval '13 seconds', (g * 7919) %% 97, (g * 31) %% 13
            FROM generate_series(1, %s) AS g
            """,
            [first_id, USERS, POSTS],
        )
        cursor.execute("INSERT INTO feed_hashtag (name, post_count) VALUES ('common', %s) RETURNING id", [POSTS // 10])
        tag_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO feed_posthashtag (hashtag_id, post_id) SELECT %s, id FROM feed_post WHERE caption = '#common'",
            [tag_id],
        )
        cursor.execute("ANALYZE")
    viewer = users[1]
    Follow.objects.bulk_create([Follow(follower=viewer, followee=u) for u in users[2:60]])
    Block.objects.create(blocker=viewer, blocked=users[70])
    return viewer


def plans(queries) -> list[str]:
    """The EXPLAIN of every captured query that reads posts."""
    found = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if sql.startswith("SELECT") and "feed_post" in sql:
                cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
                found.append(json.dumps(cursor.fetchone()[0]))
    return found


def scanned(plan: str, kind: str) -> set[str]:
    """The relations the plan reads with `kind` ("Seq Scan", "Index Scan", ...)."""
    names = set()

    def walk(node):
        if isinstance(node, dict):
            if node.get("Node Type") == kind:
                names.add(node.get("Relation Name"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(plan))
    return names


@pytest.mark.parametrize("path", ["/api/explore", "/api/tags/common/posts"])
def test_pages_on_200000_posts_are_a_constant_number_of_indexed_queries(seeded, client_for, path):
    client = client_for(seeded)
    counts = []
    url = path
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            body = client.get(url).json()
        assert len(body["results"]) == 20
        counts.append(len(queries))
        url = body["next"]
        big = {"feed_post", "feed_posthashtag"}
        read = 0
        for plan in plans(queries.captured_queries):
            assert not scanned(plan, "Seq Scan") & big, plan
            indexed = scanned(plan, "Index Scan") | scanned(plan, "Index Only Scan") | scanned(plan, "Bitmap Heap Scan")
            read += bool(indexed & big)
        assert read >= 1, "no page query read the posts by an index"
    assert len(set(counts)) == 1, counts
