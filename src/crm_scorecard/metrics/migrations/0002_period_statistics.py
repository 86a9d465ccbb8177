"""Expression statistics on event timestamps' period indexes (PostgreSQL only): see
`crm_scorecard.metrics.planner`."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from crm_scorecard.metrics.planner import columns_present, create_statistics

    create_statistics(schema_editor.execute, columns_present(schema_editor.connection))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from crm_scorecard.metrics.planner import drop_statistics

    drop_statistics(schema_editor.execute)


class Migration(migrations.Migration):
    dependencies = [("metrics", "0001_initial"), ("crm", "0003_table_versions")]

    operations = [migrations.RunPython(forwards, backwards)]
