"""Database triggers that count writes made outside the product, so the metrics engine's
columnar mirror notices rows changed (not only added) by another system's SQL.

- PostgreSQL: a statement-level trigger per table draws from a sequence of its own
  (`crm_changes_<table>`). Sequences take no row lock and ignore transactions, so writers from
  other systems never wait on each other for the count; a rolled-back write still counts,
  which costs at most one needless copy.
- SQLite: row-level triggers (SQLite has no statement-level ones) add one to the table's
  `crm_tableversion` row; SQLite has one writer at a time, so there is nothing to wait on.

`crm.changes.table_versions` reads both counts; the product's own writes are counted by
signals and bulk paths as before."""

from django.db import migrations

TABLES = [
    "accounts_department",
    "crm_customer",
    "crm_employee",
    "crm_product",
    "crm_order",
    "crm_orderline",
    "crm_lead",
    "crm_interaction",
    "crm_feedback",
    "crm_complaint",
    "crm_engagementanswer",
]
EVENTS = ("INSERT", "UPDATE", "DELETE")


def _rows(apps, schema_editor):
    """A version row for each table, so SQLite's triggers always have one to count on."""
    TableVersion = apps.get_model("crm", "TableVersion")
    for table in TABLES:
        TableVersion.objects.using(schema_editor.connection.alias).get_or_create(table=table)


def forwards(apps, schema_editor):
    _rows(apps, schema_editor)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION crm_table_changed() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM nextval(quote_ident('crm_changes_' || TG_TABLE_NAME)); "
            "RETURN NULL; END $$"
        )
        for table in TABLES:
            schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS crm_changes_{table}")
            schema_editor.execute(
                f"CREATE OR REPLACE TRIGGER crm_changed AFTER INSERT OR UPDATE OR DELETE OR "
                f"TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION crm_table_changed()"
            )
    elif schema_editor.connection.vendor == "sqlite":
        for table in TABLES:
            for event in EVENTS:
                schema_editor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS crm_changed_{table}_{event.lower()} "
                    f"AFTER {event} ON {table} FOR EACH ROW BEGIN "
                    f"UPDATE crm_tableversion SET version = version + 1 "
                    f"WHERE \"table\" = '{table}'; END"
                )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS crm_changed ON {table}")
            schema_editor.execute(f"DROP SEQUENCE IF EXISTS crm_changes_{table}")
        schema_editor.execute("DROP FUNCTION IF EXISTS crm_table_changed()")
    elif schema_editor.connection.vendor == "sqlite":
        for table in TABLES:
            for event in EVENTS:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS crm_changed_{table}_{event.lower()}")


class Migration(migrations.Migration):
    dependencies = [("crm", "0005_search_trigram")]
    operations = [migrations.RunPython(forwards, backwards)]
