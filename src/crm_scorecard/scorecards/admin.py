"""The admin: saves of scorecards, goals and indicators go through the same services as the
pages, so an edit that would make a scorecard unscorable, or read another department's
data, is refused on the form with the reason, and nothing is saved.

Each object's "History" shows its audit trail (who, when, old and new) read-only: no revert,
and a historical version's page refuses to save."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin

from . import models, scoring, services


class _Refused(Exception):
    """Rolls back a trial save that succeeded."""


def _service_form(save: Callable[[Any, Any], Any]) -> type[forms.ModelForm]:
    """A model form that, once its fields are valid, tries the save through the service in a
    transaction it then rolls back, and shows the service's refusal as a form error."""

    class ServiceForm(forms.ModelForm):
        actor: Any = None

        def _post_clean(self) -> None:
            super()._post_clean()  # type: ignore[misc]
            if self.errors:
                return
            new = self.instance.pk is None
            try:
                with transaction.atomic():
                    save(self.instance, self.actor)
                    raise _Refused
            except _Refused:
                pass
            except (scoring.DefinitionError, ValidationError) as exc:
                self.add_error(None, getattr(exc, "messages", None) or str(exc))
            finally:
                if new:  # the trial's row was rolled back: the real save inserts afresh
                    self.instance.pk = None
                    self.instance._state.adding = True

    return ServiceForm


class ReadOnlyHistory(SimpleHistoryAdmin):
    """The object's history in the admin, to read only: the audit trail is never edited
    or reverted from the app (settings: SIMPLE_HISTORY_REVERT_DISABLED)."""

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> HttpResponse:
        if request.method != "GET":
            raise PermissionDenied("The history is read-only.")
        return super().history_form_view(request, object_id, version_id, extra_context)


class ThroughServices(ReadOnlyHistory):
    """Saves through `service(instance, actor)`; the form checks it first (see _service_form)."""

    service: Callable[[Any, Any], Any]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        kwargs["form"] = _service_form(type(self).service)
        form = super().get_form(request, obj, change=change, **kwargs)
        setattr(form, "actor", request.user)  # noqa: B010 (a class attribute of the form)
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        type(self).service(obj, request.user)


class PerspectiveInline(admin.TabularInline):
    model = models.Perspective
    extra = 0


@admin.register(models.Scorecard)
class ScorecardAdmin(ThroughServices):
    service = staticmethod(lambda obj, actor: services.scorecard_save(scorecard=obj, actor=actor))
    list_display = ["name", "department", "template", "green", "yellow", "updated_at"]
    list_filter = ["department", "template"]
    search_fields = ["name", "mission"]
    inlines = [PerspectiveInline]


class IndicatorInline(admin.TabularInline):
    """Listed only: an indicator is changed on its own page, through the service."""

    model = models.Indicator
    fields = ("name", "metric", "scope", "optimization", "baseline", "target", "weight")
    readonly_fields = fields
    show_change_link = True
    can_delete = False
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Goal)
class GoalAdmin(ThroughServices):
    service = staticmethod(lambda obj, actor: services.goal_save(goal=obj, actor=actor))
    list_display = ["name", "perspective", "parent", "weight", "cascaded_from"]
    list_filter = ["perspective__scorecard"]
    search_fields = ["name"]
    raw_id_fields = ["parent", "cascaded_from"]
    inlines = [IndicatorInline]


@admin.register(models.Indicator)
class IndicatorAdmin(ThroughServices):
    service = staticmethod(lambda obj, actor: services.indicator_save(indicator=obj, actor=actor))
    list_display = [
        "name",
        "goal",
        "metric",
        "scope",
        "optimization",
        "baseline",
        "target",
        "weight",
        "cascaded_from",
    ]
    list_filter = ["optimization", "update_interval", "kind"]
    search_fields = ["name", "metric"]
    raw_id_fields = ["goal", "cascaded_from"]


@admin.register(models.ManualValue)
class ManualValueAdmin(ReadOnlyHistory):
    list_display = ["indicator", "period_start", "value", "entered_by", "entered_at"]
    raw_id_fields = ["indicator", "entered_by"]


@admin.register(models.GoalLink)
class GoalLinkAdmin(ReadOnlyHistory):
    list_display = ["scorecard", "cause", "effect"]
    raw_id_fields = ["cause", "effect"]


@admin.register(models.Initiative)
class InitiativeAdmin(ReadOnlyHistory):
    list_display = ["name", "goal", "owner", "start", "due", "budget", "status"]
    list_filter = ["status"]
    raw_id_fields = ["goal"]


@admin.register(models.IndicatorComment)
class IndicatorCommentAdmin(ReadOnlyHistory):
    """Comments are people's words: the admin lists them and their history, and changes
    none (an author deletes their own on the indicator's page)."""

    list_display = ["indicator", "period_start", "author", "created_at", "text"]
    raw_id_fields = ["indicator", "author"]
    readonly_fields = ["indicator", "period_start", "text", "author", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
