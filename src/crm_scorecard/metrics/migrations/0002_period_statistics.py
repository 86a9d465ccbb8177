"""Expression statistics on event timestamps' period indexes (PostgreSQL only): see
`crm_scorecard.metrics.planner`."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from crm_scorecard.metrics.planner import create_statistics

    create_statistics(schema_editor.execute)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from crm_scorecard.metrics.planner import drop_statistics

    drop_statistics(schema_editor.execute)


class Migration(migrations.Migration):
    # After every crm migration that adds a timestamp the planner names (on a new database
    # the statistics are made once, here; 0004 adds them to databases migrated before).
    dependencies = [("metrics", "0001_initial"), ("crm", "0004_complaint_workflow")]

    operations = [migrations.RunPython(forwards, backwards)]
