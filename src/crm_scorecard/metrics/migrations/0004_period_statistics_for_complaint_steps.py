"""Expression statistics for the complaint workflow's timestamps (first response, first
reopening) on PostgreSQL databases whose statistics were made before those columns existed;
`CREATE STATISTICS IF NOT EXISTS` leaves the others as they are."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from crm_scorecard.metrics.planner import columns_present, create_statistics

    create_statistics(schema_editor.execute, columns_present(schema_editor.connection))


class Migration(migrations.Migration):
    dependencies = [("metrics", "0003_department_values"), ("crm", "0004_complaint_workflow")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
