"""`python manage.py prune_events [--days N]`: deletes durable events past the retention
period (EVENT_RETENTION_DAYS, 30 by default). A client resuming from before the oldest kept
event gets `resync_required`."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime import events


class Command(BaseCommand):
    help = "Deletes durable events older than the retention period."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"Keep this many days of events (default: EVENT_RETENTION_DAYS = {settings.EVENT_RETENTION_DAYS}).",
        )

    def handle(self, *args, days=None, **options):
        days = settings.EVENT_RETENTION_DAYS if days is None else days
        if days < 0 or days > 36500:
            raise CommandError("--days must be between 0 and 36500.")
        deleted = events.prune(older_than=timedelta(days=days))
        self.stdout.write(f"Pruned {deleted} event(s) older than {days} day(s).")
