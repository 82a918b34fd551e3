"""`python manage.py prune_stories`: deletes the stories that expired (24 hours after they
were posted), their seen marks and their files. Expired stories are out of every list the
moment they expire; this only reclaims the rows and the disk.

Safe to run from cron (the compose stack's scheduler runs it hourly): it can be rerun at any
time, and two runs at once share the work (rows locked with SKIP LOCKED on PostgreSQL), so
neither fails nor waits for the other."""

from django.core.management.base import BaseCommand

from feed.story_services import stories_prune


class Command(BaseCommand):
    help = "Deletes expired stories and their files."

    def handle(self, *args, **options):
        deleted = stories_prune()
        self.stdout.write(f"Pruned {deleted} expired stor{'y' if deleted == 1 else 'ies'}.")
