"""The diagram in the admin, to look at only: every change goes through the services, which
keep the audit trail (the board and `crm-scorecard voc` make them)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from . import models


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Theme)
class ThemeAdmin(ReadOnly):
    list_display = ["label", "department", "named_by_person", "created_by", "updated_at"]
    list_filter = ["department"]
    search_fields = ["label"]


@admin.register(models.ThemeMember)
class ThemeMemberAdmin(ReadOnly):
    list_display = ["theme", "kind", "feedback", "complaint", "placed_by_person", "placed_at"]
    list_filter = ["kind", "placed_by_person"]


@admin.register(models.ThemeChange)
class ThemeChangeAdmin(ReadOnly):
    list_display = ["at", "actor", "action", "theme"]
    list_filter = ["action"]
