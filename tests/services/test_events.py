import pytest
from django.db import connection, transaction

from realtime import events, registry
from realtime.models import Event
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_append_numbers_events_per_recipient_from_one():
    # given
    a, b = UserFactory(), UserFactory()
    # when
    with transaction.atomic():
        first = events.append(user_ids=[a.pk, b.pk], kind="notification.new", data={"n": 1})
    with transaction.atomic():
        second = events.append(user_ids=[a.pk], kind="notification.new", data={"n": 2})
    # then
    assert first == {a.pk: 1, b.pk: 1}
    assert second == {a.pk: 2}
    assert events.last_event_id(user_id=a.pk) == 2
    assert [f["id"] for f in events.replay(user_id=a.pk, after=0)] == [1, 2]
    assert events.replay(user_id=a.pk, after=1) == [
        {"type": "event", "id": 2, "event": "notification.new", "data": {"n": 2}}
    ]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_append_leaves_no_event_and_no_gap():
    a = UserFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        events.append(user_ids=[a.pk], kind="notification.new", data={})
        raise RuntimeError("roll back")
    with transaction.atomic():
        assigned = events.append(user_ids=[a.pk], kind="notification.new", data={})
    assert assigned == {a.pk: 1}


@pytest.mark.django_db(transaction=True)
def test_append_outside_a_transaction_is_refused():
    a = UserFactory()
    with pytest.raises(RuntimeError):
        events.append(user_ids=[a.pk], kind="notification.new", data={})


@pytest.mark.django_db(transaction=True)
def test_an_event_by_reference_stores_no_data_and_replays_through_its_resolver(monkeypatch):
    # given: a kind whose data is rebuilt from its object when read
    a = UserFactory()
    monkeypatch.setitem(registry._event_resolvers, "message.new", lambda refs: {r: {"rebuilt": r} for r in refs})
    # when
    with transaction.atomic():
        events.append(user_ids=[a.pk], kind="message.new", data={"body": "secret words"}, ref=77)
    # then: the row holds the reference only, and a replay asks the resolver
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ref, payload FROM {Event._meta.db_table}")
        assert cursor.fetchall() == [(77, None)]
    assert events.replay(user_id=a.pk, after=0) == [events.frame(1, "message.new", {"rebuilt": 77})]


@pytest.mark.django_db
def test_publish_happens_only_after_commit(django_capture_on_commit_callbacks):
    a = UserFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            events.append(user_ids=[a.pk], kind="notification.new", data={})
    assert len(callbacks) == 1
