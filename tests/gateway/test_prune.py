"""`manage.py prune_events`: retention of the event log."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from realtime import events
from realtime.models import Event
from tests.factories import UserFactory


def append(user, n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            events.append(user_ids=[user.pk], kind="notification.new", data={"n": i})


@pytest.mark.django_db(transaction=True)
def test_prune_events_deletes_only_events_past_retention(settings):
    # given: five events, two of them 31 days old
    settings.EVENT_RETENTION_DAYS = 30
    user = UserFactory()
    append(user, 5)
    Event.objects.filter(seq__lte=2).update(created_at=timezone.now() - timedelta(days=31))
    out = StringIO()
    # when
    call_command("prune_events", stdout=out)
    # then
    assert list(Event.objects.order_by("seq").values_list("seq", flat=True)) == [3, 4, 5]
    assert "Pruned 2 event(s)" in out.getvalue()
    assert not events.can_resume(user_id=user.pk, after=1)
    assert events.can_resume(user_id=user.pk, after=2)


@pytest.mark.django_db(transaction=True)
def test_prune_events_days_option_overrides_the_setting():
    # (20 days back: older than any partition of the current span, which on a partitioned
    # log is dropped whole once all of it is past retention; see realtime/partitions.py)
    user = UserFactory()
    append(user, 3)
    Event.objects.filter(seq=1).update(created_at=timezone.now() - timedelta(days=20))
    call_command("prune_events", "--days", "25", stdout=StringIO())
    assert Event.objects.count() == 3
    call_command("prune_events", "--days", "10", stdout=StringIO())
    assert Event.objects.count() == 2


@pytest.mark.django_db
def test_prune_events_refuses_a_negative_retention():
    with pytest.raises(CommandError):
        call_command("prune_events", "--days", "-1", stdout=StringIO())
