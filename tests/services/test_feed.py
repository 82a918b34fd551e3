import json
import threading

import pytest
from django.db import close_old_connections, connection

from accounts.models import Follow
from accounts.services import follow_create, follow_delete
from feed import fanout, services
from feed.models import Like, Post
from notifications.models import Notification
from notifications.serializers import notification_payload
from realtime.models import Event
from tests.factories import UserFactory, image_upload


def make_post(author) -> Post:
    return Post.objects.create(author=author, image="posts/x.jpg", thumbnail="thumbs/x.jpg")


def run_concurrently(n: int, work) -> list[BaseException]:
    """Runs work(i) in n threads released together; returns the exceptions raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


@pytest.mark.django_db
def test_post_create_hands_the_post_to_the_fan_out_only_after_commit(monkeypatch, django_capture_on_commit_callbacks):
    # given
    author = UserFactory()
    handed = []
    monkeypatch.setattr(fanout, "post_created", handed.append)
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post = services.post_create(author=author, image=image_upload(), caption="hi")
    # then
    assert handed == []
    for callback in callbacks:
        callback()
    assert handed == [post.pk]


@pytest.mark.django_db
def test_like_notification_is_a_durable_event_for_the_author(django_capture_on_commit_callbacks):
    # given
    author, fan = UserFactory(), UserFactory()
    post = make_post(author)
    # when
    liked, created = services.like_create(user=fan, post_id=post.pk)
    # then
    assert created and liked.like_count == 1 and liked.liked_by_me is True
    notification = Notification.objects.get()
    event = Event.objects.get()
    assert (event.user_id, event.seq, event.kind) == (author.pk, 1, "notification.new")
    assert json.loads(event.payload) == json.loads(json.dumps(notification_payload(notification)))


@pytest.mark.django_db
def test_own_like_and_own_comment_notify_nobody():
    author = UserFactory()
    post = make_post(author)
    services.like_create(user=author, post_id=post.pk)
    services.comment_create(author=author, post_id=post.pk, body="mine")
    assert not Notification.objects.exists()
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_post_delete_cascades_and_keeps_counts():
    author, fan = UserFactory(), UserFactory()
    post = services.post_create(author=author, image=image_upload())
    services.like_create(user=fan, post_id=post.pk)
    services.comment_create(author=fan, post_id=post.pk, body="nice")
    services.post_delete(user=author, post_id=post.pk)
    author.refresh_from_db()
    assert author.post_count == 0
    assert not Like.objects.exists() and not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_likes_count_each_liker_once():
    # given
    author = UserFactory()
    fans = [UserFactory() for _ in range(6)]
    post = make_post(author)
    # when: six fans like at once, and one of them four more times
    errors = run_concurrently(10, lambda i: services.like_create(user=fans[min(i, 5)], post_id=post.pk))
    # then
    assert errors == []
    post.refresh_from_db()
    assert post.like_count == Like.objects.filter(post=post).count() == 6
    assert Notification.objects.filter(verb="like").count() == 6


@pytest.mark.django_db(transaction=True)
def test_concurrent_follow_and_unfollow_keep_counts_right():
    # given
    star = UserFactory()
    fans = [UserFactory() for _ in range(4)]
    # when: each fan follows twice at once, then half unfollow twice at once
    assert run_concurrently(8, lambda i: follow_create(follower=fans[i % 4], followee=star)) == []
    assert run_concurrently(4, lambda i: follow_delete(follower=fans[i % 2], followee=star)) == []
    # then
    star.refresh_from_db()
    assert star.follower_count == Follow.objects.filter(followee=star).count() == 2
    for i, fan in enumerate(fans):
        fan.refresh_from_db()
        assert fan.following_count == (0 if i < 2 else 1)


@pytest.mark.django_db(transaction=True)
def test_crossed_mentions_in_concurrent_comments_do_not_deadlock():
    # given: two posts whose comments notify the same two people in opposite orders
    a, b = UserFactory(username="anna"), UserFactory(username="bert")
    post_a, post_b = make_post(a), make_post(b)
    commenters = [UserFactory() for _ in range(8)]

    def work(i):
        post = post_a if i % 2 else post_b
        mention = "@bert" if post is post_a else "@anna"
        services.comment_create(author=commenters[i], post_id=post.pk, body=f"look {mention}")

    # when
    errors = run_concurrently(8, work)
    # then: every comment went through, each notifying both people
    assert errors == []
    assert Notification.objects.filter(recipient=a).count() == 8
    assert Notification.objects.filter(recipient=b).count() == 8
