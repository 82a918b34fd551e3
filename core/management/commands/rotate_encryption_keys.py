"""Re-encrypts every EncryptedTextField value under the newest FIELD_ENCRYPTION_KEYS key,
then recomputes every KeyedHashField (the HMAC of an encrypted column) under it.

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), restart
the app, run this command, then drop the old keys. Rows are read and written as raw
ciphertext (never through the field, which would decrypt on read and encrypt on write), in
primary-key batches, each in its own short transaction with its rows locked. Values already
under the newest key are skipped, so an interrupted run can simply be started again.
"""

from dataclasses import dataclass, field

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router, transaction
from django.db.models import Field, Model

from core import crypto


@dataclass
class Column:
    model: type[Model]
    field_name: str
    column: str

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field_name}"


@dataclass
class Tally:
    seen: int = 0
    rotated: int = 0
    encrypted: int = 0
    failed: list = field(default_factory=list)


def encrypted_columns() -> list[Column]:
    """Every concrete EncryptedTextField of every installed, managed, non-proxy model."""
    found = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        for f in meta.local_concrete_fields:
            if isinstance(f, crypto.EncryptedTextField) and f.column:
                found.append(Column(model=model, field_name=f.name, column=f.column))
    return found


def keyed_hash_columns() -> list[tuple[type[Model], crypto.KeyedHashField]]:
    """Every concrete KeyedHashField of every installed, managed, non-proxy model."""
    found: list[tuple[type[Model], crypto.KeyedHashField]] = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        found.extend((model, f) for f in meta.local_concrete_fields if isinstance(f, crypto.KeyedHashField))
    return found


class ProgressBar:
    """A small text progress bar on a command's OutputWrapper: redrawn in place on a
    terminal, one line per batch otherwise."""

    def __init__(self, stream, label: str, total: int, width: int = 30):
        self.stream, self.label, self.total, self.width = stream, label, total, width
        self.interactive = stream.isatty()

    def update(self, done: int, changed: int) -> None:
        fraction = 1.0 if self.total == 0 else min(done / self.total, 1.0)
        filled = int(self.width * fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        text = f"{self.label} [{bar}] {done}/{self.total} ({changed} re-encrypted)"
        self.stream.write(("\r" + text) if self.interactive else text + "\n", ending="")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n", ending="")
            self.stream.flush()


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column with the newest FIELD_ENCRYPTION_KEYS key (safe to rerun)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")
        parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")

    def handle(self, *args, batch_size: int, no_progress: bool, **options):
        if not 1 <= batch_size <= 100_000:
            raise CommandError("--batch-size must be between 1 and 100000")
        progress_stream = None if no_progress else self.stderr
        failures = 0
        for column in encrypted_columns():
            tally = self.rotate_column(column, batch_size=batch_size, progress_stream=progress_stream)
            failures += len(tally.failed)
            self.stdout.write(
                f"{column.label}: {tally.seen} rows, {tally.rotated} re-encrypted, "
                f"{tally.encrypted} plaintext encrypted, {len(tally.failed)} failed"
            )
            for pk in tally.failed[:20]:
                self.stderr.write(f"  {column.label} pk={pk}: decrypts with none of the configured keys")
        for model, hash_field in keyed_hash_columns():
            changed = self.rehash_column(model, hash_field, batch_size=batch_size)
            self.stdout.write(f"{model._meta.label}.{hash_field.name}: {changed} rehashed")
        if failures:
            raise CommandError(
                f"{failures} values decrypt with none of the configured keys and were left as they are; "
                "every other value is under the newest key"
            )

    def rotate_column(self, column: Column, *, batch_size: int, progress_stream) -> Tally:
        meta = column.model._meta
        alias = router.db_for_write(column.model)
        conn = connections[alias]
        quote = conn.ops.quote_name
        assert meta.pk is not None and meta.pk.column, f"{meta.label} has no primary key column"
        table, pk, col = quote(meta.db_table), quote(meta.pk.column), quote(column.column)
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - quoted identifiers  # nosec B608 # names from _meta; values bound
            (total,) = cursor.fetchone()
        bar = ProgressBar(progress_stream, column.label, total) if progress_stream is not None else None
        lock = " FOR UPDATE" if conn.features.has_select_for_update else ""
        tally = Tally()
        last_pk = None
        while True:
            with transaction.atomic(using=alias), conn.cursor() as cursor:
                if last_pk is None:
                    cursor.execute(f"SELECT {pk}, {col} FROM {table} ORDER BY {pk} LIMIT %s{lock}", [batch_size])  # nosec B608 # names from _meta; values bound
                else:
                    cursor.execute(
                        f"SELECT {pk}, {col} FROM {table} WHERE {pk} > %s ORDER BY {pk} LIMIT %s{lock}",  # nosec B608 # names from _meta; values bound
                        [last_pk, batch_size],
                    )
                rows = cursor.fetchall()
                if not rows:
                    break
                last_pk = rows[-1][0]
                updates = []
                for row_pk, raw in rows:
                    tally.seen += 1
                    if raw is None:
                        continue
                    if not raw.startswith(crypto.PREFIX):
                        # Written before the column was encrypted: encrypt it now.
                        updates.append((crypto.encrypt(raw), row_pk))
                        tally.encrypted += 1
                        continue
                    if crypto.is_current(raw):
                        continue
                    try:
                        updates.append((crypto.rotate(raw), row_pk))
                    except Exception:  # noqa: BLE001 - InvalidToken or a corrupt value: report, go on
                        tally.failed.append(row_pk)
                        continue
                    tally.rotated += 1
                if updates:
                    cursor.executemany(f"UPDATE {table} SET {col} = %s WHERE {pk} = %s", updates)  # nosec B608 # names from _meta; values bound
            if bar is not None:
                bar.update(tally.seen, tally.rotated + tally.encrypted)
        if bar is not None:
            if total == 0:
                bar.update(0, 0)
            bar.close()
        return tally

    def rehash_column(self, model: type[Model], hash_field: crypto.KeyedHashField, *, batch_size: int) -> int:
        """Recomputes one keyed-hash column from its (decrypted) source, batch by batch."""
        source = model._meta.get_field(hash_field.source)
        assert isinstance(source, Field) and source.column and hash_field.column
        alias = router.db_for_write(model)
        conn = connections[alias]
        quote = conn.ops.quote_name
        meta = model._meta
        assert meta.pk is not None and meta.pk.column
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        src, col = quote(source.column), quote(hash_field.column)
        lock = " FOR UPDATE" if conn.features.has_select_for_update else ""
        changed = 0
        last_pk = None
        while True:
            with transaction.atomic(using=alias), conn.cursor() as cursor:
                where = "" if last_pk is None else f"WHERE {pk} > %s "
                params = ([] if last_pk is None else [last_pk]) + [batch_size]
                cursor.execute(f"SELECT {pk}, {src}, {col} FROM {table} {where}ORDER BY {pk} LIMIT %s{lock}", params)
                rows = cursor.fetchall()
                if not rows:
                    return changed
                last_pk = rows[-1][0]
                updates = []
                for row_pk, raw, stored in rows:
                    if raw is None:
                        continue
                    try:
                        plain = crypto.decrypt(raw) if raw.startswith(crypto.PREFIX) else raw
                    except ValueError:
                        continue  # reported by the column pass above
                    fresh = hash_field.hash_of(plain)
                    if fresh != stored:
                        updates.append((fresh, row_pk))
                if updates:
                    cursor.executemany(f"UPDATE {table} SET {col} = %s WHERE {pk} = %s", updates)
                    changed += len(updates)
