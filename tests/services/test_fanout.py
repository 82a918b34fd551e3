import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from accounts.models import Block, Follow, User
from feed import fanout
from feed.models import Post
from feed.serializers import post_payload
from realtime import presence
from realtime.publish import frame_message, user_group
from tests.factories import UserFactory, image_upload


def online(user: User, *, ago: timedelta = timedelta(0)) -> None:
    """Records a socket of the user in presence, last refreshed `ago` (so a socket refreshed
    longer ago than the TTL has expired, as the sockets of a node that died)."""
    with override_settings(PRESENCE_TTL_SECONDS=settings.PRESENCE_TTL_SECONDS - ago.total_seconds()):
        async_to_sync(presence.opened)(user_id=user.pk, channel=f"test!{user.pk}-{ago.total_seconds()}")


def bulk_users(prefix: str, n: int) -> list[User]:
    return User.objects.bulk_create([User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com") for i in range(n)])


def collect(users: list[User], action, quiet: float = 1.0) -> tuple[object, dict[int, list[dict]]]:
    """Subscribes each user's group on the real channel layer, runs the sync `action`, then
    gathers what every group received until `quiet` seconds pass without a message."""

    async def scenario():
        layer = get_channel_layer()
        channels = {}
        for user in users:
            channels[user.pk] = await layer.new_channel()
            await layer.group_add(user_group(user.pk), channels[user.pk])
        result = await sync_to_async(action)()

        async def drain(channel: str) -> list[dict]:
            got = []
            while True:
                try:
                    got.append(await asyncio.wait_for(layer.receive(channel), quiet))
                except TimeoutError:
                    return got

        received = dict(zip(channels, await asyncio.gather(*(drain(c) for c in channels.values())), strict=True))
        for user_id, channel in channels.items():
            await layer.group_discard(user_group(user_id), channel)
        return result, received

    return async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_new_post_reaches_only_online_followers_off_the_request_path(client_for):
    # given: 2000 followers, three of them online
    author = UserFactory(username="author")
    followers = bulk_users("fan", 2000)
    Follow.objects.bulk_create([Follow(follower=f, followee=author) for f in followers])
    watching = followers[7], followers[900], followers[1999]
    for user in watching:
        online(user)
    stale = followers[10]
    online(stale, ago=timedelta(seconds=settings.PRESENCE_TTL_SECONDS + 60))
    blocked = followers[11]
    online(blocked)
    Block.objects.create(blocker=author, blocked=blocked)
    stranger = UserFactory()
    online(stranger)
    offline = followers[12]
    client = client_for(author)

    def post_it():
        started = time.monotonic()
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/posts", {"image": image_upload(), "caption": "hello"}, format="multipart")
        elapsed = time.monotonic() - started
        assert fanout.wait_idle(20)
        return response, elapsed, queries.captured_queries

    # when
    (response, elapsed, queries), received = collect([*watching, stale, blocked, stranger, offline], post_it)

    # then: the request neither looked for followers nor for sockets
    assert response.status_code == 201
    assert elapsed < 2.0
    request_sql = " ".join(q["sql"] for q in queries)
    assert Follow._meta.db_table not in request_sql
    # and exactly the online followers got the post once, as the API shows it
    expected = post_payload(Post.objects.select_related("author").get(pk=response.json()["id"]))
    assert expected == response.json()
    for user in watching:
        assert received[user.pk] == [frame_message({"type": "feed.post", "data": expected})]
    for user in (stale, blocked, stranger, offline):
        assert received[user.pk] == []


@pytest.mark.django_db(transaction=True)
def test_fan_out_walks_online_followers_in_chunks(monkeypatch):
    # given
    author = UserFactory(username="author")
    followers = bulk_users("chunk", 7)
    Follow.objects.bulk_create([Follow(follower=f, followee=author) for f in followers])
    for user in followers[:5]:
        online(user)
    online(followers[0], ago=timedelta(seconds=1))  # a second socket of the same user
    online(author)
    post = Post.objects.create(author=author, image="posts/x.jpg", thumbnail="thumbs/x.jpg")
    monkeypatch.setattr(fanout, "CHUNK_SIZE", 2)
    # when
    audience = sorted(u.pk for u in [author, *followers])
    chunks = [
        fanout.audience_ids(author_id=author.pk, after_id=after, limit=2)
        for after in (0, audience[1], audience[3], audience[5], audience[7])
    ]
    told, received = collect([*followers, author], lambda: fanout.fan_out(post.pk))
    # then: every follower and the author, in chunks; only the online ones told
    assert chunks == [audience[0:2], audience[2:4], audience[4:6], audience[6:8], []]
    assert told == 6
    assert all(len(received[u.pk]) == 1 for u in [*followers[:5], author])
    assert received[followers[5].pk] == [] and received[followers[6].pk] == []
    assert received[author.pk][0]["frame"]["data"]["liked_by_me"] is False


@pytest.mark.django_db(transaction=True)
def test_fan_out_of_a_deleted_post_sends_nothing():
    assert fanout.fan_out(10**9) == 0
    fanout.post_created(10**9)
    assert fanout.wait_idle(10)
