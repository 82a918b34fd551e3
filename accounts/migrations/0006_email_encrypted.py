"""Email addresses encrypted at rest, with a keyed hash (HMAC) for lookups and uniqueness.

Existing addresses are encrypted in place and hashed: the column becomes text (plain for the
moment), each row is rewritten as ciphertext with its hash, then the column becomes the
encrypted field and the hash unique and required."""

from django.db import migrations, models

import core.crypto


def encrypt_emails(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    rows = User.objects.using(schema_editor.connection.alias).order_by("pk").values_list("pk", "email")
    for pk, email in rows.iterator(chunk_size=1000):
        if email is None:
            continue
        if email.startswith(core.crypto.PREFIX):
            plain = core.crypto.decrypt(email)
        else:
            plain, email = email, core.crypto.encrypt(email)
        User.objects.using(schema_editor.connection.alias).filter(pk=pk).update(
            email=email, email_hash=core.crypto.keyed_hash(plain.casefold())
        )


def decrypt_emails(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    rows = User.objects.using(schema_editor.connection.alias).order_by("pk").values_list("pk", "email")
    for pk, email in rows.iterator(chunk_size=1000):
        if email and email.startswith(core.crypto.PREFIX):
            User.objects.using(schema_editor.connection.alias).filter(pk=pk).update(email=core.crypto.decrypt(email))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_credential"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_hash",
            field=models.CharField(max_length=64, null=True, editable=False),
        ),
        migrations.AlterField(model_name="user", name="email", field=models.TextField(blank=True, null=True)),
        migrations.RunPython(encrypt_emails, decrypt_emails),
        migrations.AlterField(
            model_name="user", name="email", field=core.crypto.EncryptedTextField(blank=True, null=True)
        ),
        migrations.AlterField(
            model_name="user",
            name="email_hash",
            field=core.crypto.KeyedHashField(casefold=True, editable=False, null=True, source="email", unique=True),
        ),
    ]
