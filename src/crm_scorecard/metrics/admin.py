from typing import Any

from django.contrib import admin

from .models import FillRun, KpiValue


@admin.register(KpiValue)
class KpiValueAdmin(admin.ModelAdmin):
    """Read-only: values are computed by `crm-scorecard compute` (a fill run), which would
    overwrite an edit; people enter values on manual indicators instead."""

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

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


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
