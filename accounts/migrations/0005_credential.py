"""ApiToken becomes Credential: API tokens and browser sessions, with when and from where
they were last used. Existing tokens are kept (kind "token", last used now)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import core.crypto


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_follow_request"),
    ]

    operations = [
        migrations.RenameModel(old_name="ApiToken", new_name="Credential"),
        migrations.AlterField(
            model_name="credential",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="credentials", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AlterField(
            model_name="credential",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="credential",
            name="kind",
            field=models.CharField(
                choices=[("token", "API token"), ("session", "browser session")], default="token", max_length=8
            ),
        ),
        migrations.AddField(
            model_name="credential",
            name="last_used_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="credential",
            name="user_agent",
            field=models.CharField(blank=True, max_length=256),
        ),
        migrations.AddField(
            model_name="credential",
            name="ip",
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="credential",
            name="session_key",
            field=core.crypto.EncryptedTextField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="credential",
            index=models.Index(fields=["user", "-last_used_at"], name="credential_user_recent"),
        ),
    ]
