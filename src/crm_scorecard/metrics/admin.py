from django.contrib import admin

from .models import FillRun, KpiValue


@admin.register(KpiValue)
class KpiValueAdmin(admin.ModelAdmin):
    list_display = [
        "metric",
        "grain",
        "period_start",
        "dimension",
        "dimension_value",
        "value",
        "computed_at",
    ]
    list_filter = ["grain", "dimension", "metric"]
    search_fields = ["metric", "dimension_value"]
    show_full_result_count = False


@admin.register(FillRun)
class FillRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "finished_at",
        "grain",
        "since",
        "until",
        "rows_written",
        "engine",
        "error",
    ]
