"""Trigram indexes so customer search stays fast on a million customers (PostgreSQL only).

The expressions match what Django emits for `icontains` (UPPER(col::text) LIKE UPPER(...))
and for `contains` on phone, so the planner can use them."""

from django.db import migrations

INDEXES = {
    "crm_customer_name_trgm": "UPPER(full_name::text) gin_trgm_ops",
    "crm_customer_email_trgm": "UPPER(email::text) gin_trgm_ops",
    "crm_customer_phone_trgm": "phone gin_trgm_ops",
    "crm_customer_extid_upper": None,
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        if expression is None:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON crm_customer (UPPER(external_id::text) text_pattern_ops)"
            )
        else:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON crm_customer USING gin ({expression})"
            )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
