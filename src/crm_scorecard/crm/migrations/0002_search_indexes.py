"""Trigram indexes so customer search stays fast on a million customers (PostgreSQL only).

The expressions match what Django emits for `icontains` (UPPER(col::text) LIKE UPPER(...))
and for `contains` on phone, so the planner can use them.

pg_trgm can be created by a superuser, or by a role with CREATE on the database (it is a
trusted extension). When it cannot be, the migration goes on without the trigram indexes and
says so (migration 0005 says the same and tries again when it runs)."""

from django.db import DatabaseError, migrations, transaction

INDEXES = {
    "crm_customer_name_trgm": "UPPER(full_name::text) gin_trgm_ops",
    "crm_customer_email_trgm": "UPPER(email::text) gin_trgm_ops",
    "crm_customer_phone_trgm": "phone gin_trgm_ops",
    "crm_customer_extid_upper": None,
}


def _trigram_available(schema_editor) -> bool:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone():
            return True
        try:
            # A savepoint: this migration runs in one transaction, which a failed statement
            # would otherwise abort for everything after it.
            with transaction.atomic(using=connection.alias):
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError as exc:  # no CREATE on the database, or pg_trgm not installed
            print(
                "\n  crm 0002: the PostgreSQL extension pg_trgm could not be created "
                f"({str(exc).strip()}); the name, e-mail and phone trigram indexes are left "
                "out and customer search reads the table instead."
            )
            return False
        return True


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    trigram = _trigram_available(schema_editor)
    for name, expression in INDEXES.items():
        if expression is not None and not trigram:
            continue
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
