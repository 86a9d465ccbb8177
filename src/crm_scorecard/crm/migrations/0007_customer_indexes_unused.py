"""Two indexes on crm_customer that no query reads, dropped (PostgreSQL only): every row an
import writes paid for them.

- crm_customer_phone_trgm, a GIN trigram index on the phone as typed (migration 0002): search
  looks for digits in the phone without its separators (crm.selectors.PhoneDigits), which
  0005's crm_customer_phone_digits_trgm holds; nothing else looks inside phones.
- The `varchar_pattern_ops` btree Django makes beside a unique CharField's own index
  (crm_customer_external_id_<hash>_like), for case-sensitive LIKE on external_id: the only
  LIKE on the id is search's, case-insensitive (UPPER(external_id) LIKE ...), served by 0002's
  and 0005's UPPER(external_id) indexes; equality uses the unique index.

Together 74 MB at 1,000,000 customers. Dropped CONCURRENTLY (no lock on the customer table),
so the migration is not atomic; going back builds them again."""

from django.db import migrations

UNUSED = {
    "crm_customer_phone_trgm": "USING gin (phone gin_trgm_ops)",
    "crm_customer_external_id_e17aa634_like": "(external_id varchar_pattern_ops)",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in UNUSED:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        trigram = cursor.fetchone() is not None
    for name, definition in UNUSED.items():
        if "gin_trgm_ops" in definition and not trigram:
            continue
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON crm_customer {definition}"
        )


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("crm", "0006_change_triggers")]
    operations = [migrations.RunPython(forwards, backwards)]
