import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Block
from accounts.serializers import user_brief
from feed.models import Post
from notifications.models import Notification
from notifications.serializers import notification_payload
from notifications.services import notification_create, notifications_mark_read
from realtime import events
from tests.factories import UserFactory, image_upload

NOTIFICATION_KEYS = {"id", "verb", "actor", "post", "comment", "created_at", "read"}


def follow_notifications(recipient, n: int) -> list[Notification]:
    return [
        notification_create(recipient=recipient, actor=actor, verb="follow")
        for actor in UserFactory.create_batch(n, password=None)
    ]


# services


@pytest.mark.django_db
def test_notification_create_stores_it_and_appends_notification_new(django_capture_on_commit_callbacks):
    # given
    alice, bob = UserFactory(), UserFactory()
    post = Post.objects.create(author=alice, image=image_upload(), thumbnail=image_upload())
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        notification = notification_create(recipient=alice, actor=bob, verb="like", post=post)
    # then
    assert len(callbacks) == 1
    frames = events.replay(user_id=alice.pk, after=0)
    assert frames == [
        {"type": "event", "id": 1, "event": "notification.new", "data": notification_payload(notification)}
    ]
    assert frames[0]["data"] == {
        "id": notification.pk,
        "verb": "like",
        "actor": user_brief(bob),
        "post": post.pk,
        "comment": None,
        "created_at": notification.created_at.isoformat().replace("+00:00", "Z"),
        "read": False,
    }
    assert events.replay(user_id=bob.pk, after=0) == []


@pytest.mark.django_db
def test_nobody_is_notified_of_their_own_act_or_across_a_block():
    alice, bob = UserFactory(), UserFactory()
    assert notification_create(recipient=alice, actor=alice, verb="follow") is None
    Block.objects.create(blocker=alice, blocked=bob)
    assert notification_create(recipient=alice, actor=bob, verb="follow") is None
    assert Notification.objects.count() == 0
    assert events.last_event_id(user_id=alice.pk) == 0


@pytest.mark.django_db
def test_a_like_given_again_within_the_hour_notifies_once():
    alice, bob = UserFactory(), UserFactory()
    post = Post.objects.create(author=alice, image=image_upload(), thumbnail=image_upload())
    assert notification_create(recipient=alice, actor=bob, verb="like", post=post) is not None
    assert notification_create(recipient=alice, actor=bob, verb="like", post=post) is None
    assert Notification.objects.count() == 1


@pytest.mark.django_db
def test_mark_read_touches_only_my_notifications_up_to_the_id():
    alice, bob = UserFactory(), UserFactory()
    first, second, third = follow_notifications(alice, 3)
    (bobs,) = follow_notifications(bob, 1)
    with transaction.atomic():
        assert notifications_mark_read(user=alice, up_to=second.pk) == 2
    assert notifications_mark_read(user=alice, up_to=second.pk) == 0
    assert set(Notification.objects.filter(read=True).values_list("id", flat=True)) == {first.pk, second.pk}
    assert not Notification.objects.get(pk=third.pk).read
    assert not Notification.objects.get(pk=bobs.pk).read


# GET /api/notifications


@pytest.mark.django_db
def test_notification_list_is_mine_newest_first_with_a_cursor(client_for):
    # given
    alice, bob = UserFactory(), UserFactory()
    mine = follow_notifications(alice, 5)
    follow_notifications(bob, 2)
    client = client_for(alice)
    # when
    first = client.get("/api/notifications?limit=3").json()
    second = client.get(first["next"]).json()
    # then
    assert [n["id"] for n in first["results"] + second["results"]] == [n.pk for n in reversed(mine)]
    assert second["next"] is None
    assert set(first["results"][0]) == NOTIFICATION_KEYS
    assert first["results"][0] == notification_payload(mine[-1])


@pytest.mark.django_db
def test_notification_list_costs_the_same_queries_for_3_or_30(client_for):
    few, many = UserFactory(), UserFactory()
    follow_notifications(few, 3)
    follow_notifications(many, 30)
    counts = []
    for user, n in ((few, 3), (many, 30)):
        client = client_for(user)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/notifications?limit=100")
        assert len(response.json()["results"]) == n
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 3


# POST /api/notifications/read


@pytest.mark.django_db
def test_mark_read_over_rest_reports_how_many_changed(client_for):
    # given
    alice = UserFactory()
    notifications = follow_notifications(alice, 3)
    client = client_for(alice)
    # when
    response = client.post("/api/notifications/read", {"up_to": notifications[1].pk}, format="json")
    repeat = client.post("/api/notifications/read", {"up_to": notifications[1].pk}, format="json")
    # then
    assert response.status_code == 200
    assert response.json() == {"updated": 2}
    assert repeat.json() == {"updated": 0}
    listed = client.get("/api/notifications").json()["results"]
    assert [n["read"] for n in listed] == [False, True, True]


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [{}, {"up_to": "x"}, {"up_to": -1}, {"up_to": 2**64}, {"up_to": None}])
def test_mark_read_with_a_bad_up_to_is_400(client_for, payload):
    response = client_for(UserFactory()).post("/api/notifications/read", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "up_to" in body["fields"]


@pytest.mark.django_db
def test_mark_read_cannot_touch_someone_elses_notifications(client_for):
    alice, bob = UserFactory(), UserFactory()
    (bobs,) = follow_notifications(bob, 1)
    response = client_for(alice).post("/api/notifications/read", {"up_to": bobs.pk}, format="json")
    assert response.json() == {"updated": 0}
    assert not Notification.objects.get(pk=bobs.pk).read


@pytest.mark.django_db
def test_notifications_reject_other_methods(client_for):
    client = client_for(UserFactory())
    assert client.delete("/api/notifications").status_code == 405
    assert client.get("/api/notifications/read").status_code == 405
