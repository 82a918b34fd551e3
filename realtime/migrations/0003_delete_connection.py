from django.db import migrations


class Migration(migrations.Migration):
    """Open sockets are counted in Redis now (realtime/presence.py), not in a table."""

    dependencies = [("realtime", "0002_event_ref_plain_payload")]

    operations = [migrations.DeleteModel(name="Connection")]
