"""Migration 0005's four prefix btrees made again with the customer id after the key
(PostgreSQL only), in the order search reads a prefix: `ORDER BY key, id LIMIT 20`.

On the key alone, PostgreSQL had to read every customer in the prefix's range and sort them
by (key, id) to find the first 20: a common prefix is many rows ("Amel" is 2% of the names
of bench/search.py's million customers: 19,400 read, 25-30 ms per column, 58 ms for one
keystroke of an agent of a department with 5% of the customers). With the id in the index
the first 20 of the department come straight off it (0.2 ms, 280 rows read).

Each index is built CONCURRENTLY under a new name, then the old one is dropped (also
CONCURRENTLY) and the new one takes its name, so search always has one of them and the table
is never locked for the build; the migration is therefore not atomic, and a re-run after an
interruption finishes the job."""

from django.db import migrations

DIGITS = "translate(phone::text, ' +-()./', '')"  # crm.selectors.PhoneDigits

KEYS = {
    "crm_customer_extid_prefix": '(UPPER(external_id::text)) COLLATE "C"',
    "crm_customer_name_prefix": '(UPPER(full_name::text)) COLLATE "C"',
    "crm_customer_email_prefix": '(UPPER(email::text)) COLLATE "C"',
    "crm_customer_phone_prefix": f'({DIGITS}) COLLATE "C"',
}


def _replace(schema_editor, name: str, columns: str) -> None:
    """Index `name` made again on `columns`: built beside the old one, then renamed."""
    new = f"{name}_new"
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {new}")  # left by an interruption
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY {new} ON crm_customer ({columns})")
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    schema_editor.execute(f"ALTER INDEX {new} RENAME TO {name}")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, key in KEYS.items():
        _replace(schema_editor, name, f"({key}), id")
    schema_editor.execute("ANALYZE crm_customer")  # the new indexes' expression statistics


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, key in KEYS.items():
        _replace(schema_editor, name, f"({key})")
    schema_editor.execute("ANALYZE crm_customer")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("crm", "0007_customer_indexes_unused")]
    operations = [migrations.RunPython(forwards, backwards)]
