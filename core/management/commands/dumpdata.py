"""`dumpdata` that makes a restorable backup by default.

A full dump (no app labels) leaves out what a fresh database rebuilds itself (content types
and permissions, whose ids differ between databases) and what is only transient (sessions,
the admin log), and writes natural foreign keys. So `manage.py dumpdata > backup.json` then
`manage.py loaddata backup.json` round-trips every table on a fresh, migrated database.
Naming app labels, or `--exclude`, behaves as Django's own command.
"""

from django.core.management.commands import dumpdata

BACKUP_EXCLUDES = ["contenttypes", "auth.permission", "sessions", "admin.logentry"]


class Command(dumpdata.Command):
    help = dumpdata.Command.help + " A full dump leaves out " + ", ".join(BACKUP_EXCLUDES) + "."

    def handle(self, *app_labels, **options):
        if not app_labels and not options.get("exclude"):
            options["exclude"] = list(BACKUP_EXCLUDES)
            options["use_natural_foreign_keys"] = True
        return super().handle(*app_labels, **options)
