"""Event payloads become plain JSON without secret text: a `message.new` event keeps the id of
its message in `ref` (its data is built from the message when read), every other payload is
decrypted in place."""

import json

from django.db import migrations, models

from core import crypto

BATCH = 1000


def forwards(apps, schema_editor):
    Event = apps.get_model("realtime", "Event")
    last = 0
    while True:
        rows = list(Event.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "kind", "payload")[:BATCH])
        if not rows:
            return
        for pk, kind, stored in rows:
            text = crypto.decrypt(stored) if stored and stored.startswith(crypto.PREFIX) else stored
            if kind == "message.new":
                Event.objects.filter(pk=pk).update(ref=json.loads(text)["id"], payload=None)
            else:
                Event.objects.filter(pk=pk).update(payload=text)
        last = rows[-1][0]


def backwards(apps, schema_editor):
    raise RuntimeError("event payloads cannot be re-encrypted with their message bodies; restore a backup instead")


class Migration(migrations.Migration):
    dependencies = [("realtime", "0001_initial")]

    operations = [
        migrations.AddField(model_name="event", name="ref", field=models.BigIntegerField(blank=True, null=True)),
        migrations.AlterField(model_name="event", name="payload", field=models.TextField(blank=True, null=True)),
        migrations.RunPython(forwards, backwards),
    ]
