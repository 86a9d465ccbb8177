"""The admin: scheduled reports (within the departments the staff member manages), and the
schedule's runs and page jobs to read only. The queue itself is django-tasks-db's "Task
results"."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from crm_scorecard.scorecards import selectors as sc

from .models import PageJob, ScheduledReport, ScheduleRun


@admin.register(ScheduledReport)
class ScheduledReportAdmin(admin.ModelAdmin):
    list_display = ("scorecard", "format", "frequency", "breakdown", "created_by", "last_sent_at")
    list_filter = ("format", "frequency")
    filter_horizontal = ("recipients",)
    readonly_fields = ("created_by", "created_at", "last_sent_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScheduledReport]:
        return (
            super()
            .get_queryset(request)
            .filter(scorecard__in=sc.scorecards_visible(user=request.user))
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (
            obj is None
            or sc.can_edit(user=request.user, scorecard=obj.scorecard)
            or request.user.is_superuser
        )

    has_delete_permission = has_change_permission

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "scorecard":
            # only scorecards this staff member sees (a recipient who does not see the
            # chosen one gets nothing when it is sent: reports are built as each recipient)
            kwargs["queryset"] = sc.scorecards_visible(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: ScheduledReport, form: Any, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ScheduleRun)
class ScheduleRunAdmin(ReadOnly):
    list_display = ("job", "due_at", "queued_at", "worker", "task_id")
    list_filter = ("job",)


@admin.register(PageJob)
class PageJobAdmin(ReadOnly):
    list_display = ("created_at", "user", "scorecard", "format", "status", "finished_at")
    list_filter = ("status", "format")
    exclude = ("content",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PageJob]:
        return super().get_queryset(request).defer("content")
