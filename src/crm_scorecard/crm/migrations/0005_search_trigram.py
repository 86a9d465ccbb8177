"""Indexes for ranked customer search (crm.selectors.customer_search_page), PostgreSQL only.

- Prefix: a btree in byte order ("C") on each searched column as the search compares it,
  so "customers whose name starts with AN, alphabetically, first 20" is read straight from
  the index (LIKE 'AN%' and ORDER BY ... COLLATE "C" LIMIT 20) instead of sorting every
  match.
- Phone digits: the phone without its separators, so "+44 161 555-0101" is found by
  "1615550101"; a GIN trigram index finds the phones holding 3 digits or more, as
  migration 0002's do for name and email.

No GiST trigram index: measured on a million customers, nearest-first (`<->`) scans read
most of the index for a fragment like "ille" (110-220 ms), and the planner preferred GiST
to 0002's GIN for LIKE, which made the count 8x slower.

pg_trgm needs a superuser (or a trusted-extension grant) to be created. When it cannot be,
the btree indexes are still built and the migration says what is missing.

Built CONCURRENTLY (no lock on the customer table while a million rows are indexed), so this
migration is not atomic; IF NOT EXISTS makes a re-run after an interruption finish the job
(an index left invalid by an interruption is dropped and built again)."""

from django.db import DatabaseError, migrations

# crm.selectors.PhoneDigits: the phone without the separators people write in it.
DIGITS = "translate(phone::text, ' +-()./', '')"

PREFIX = {
    "crm_customer_extid_prefix": '(UPPER(external_id::text)) COLLATE "C"',
    "crm_customer_name_prefix": '(UPPER(full_name::text)) COLLATE "C"',
    "crm_customer_email_prefix": '(UPPER(email::text)) COLLATE "C"',
    "crm_customer_phone_prefix": f'({DIGITS}) COLLATE "C"',
}
TRIGRAM = {
    "crm_customer_phone_digits_trgm": f"USING gin (({DIGITS}) gin_trgm_ops)",
}


def _create(schema_editor, name: str, definition: str) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND NOT i.indisvalid",
            [name],
        )
        invalid = cursor.fetchone() is not None
    if invalid:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON crm_customer {definition}"
    )


def _trigram_available(schema_editor) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone():
            return True
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError as exc:  # not a superuser, or the extension is not installed
            print(
                "\n  crm 0005: the PostgreSQL extension pg_trgm could not be created "
                f"({str(exc).strip()}). Customer search will not rank by similarity "
                "nor find phone digits fast until a superuser runs `CREATE EXTENSION "
                "pg_trgm;` in this database and this migration is run again "
                "(`migrate crm 0004`, then `migrate`)."
            )
            return False
        return True


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in PREFIX.items():
        _create(schema_editor, name, f"({expression})")
    if not _trigram_available(schema_editor):
        return
    for name, definition in TRIGRAM.items():
        _create(schema_editor, name, definition)
    schema_editor.execute("ANALYZE crm_customer")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in [*PREFIX, *TRIGRAM]:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("crm", "0004_complaint_workflow")]
    operations = [migrations.RunPython(forwards, backwards)]
