from django.contrib import admin

from . import models


class PerspectiveInline(admin.TabularInline):
    model = models.Perspective
    extra = 0


@admin.register(models.Scorecard)
class ScorecardAdmin(admin.ModelAdmin):
    list_display = ["name", "department", "template", "green", "yellow", "updated_at"]
    list_filter = ["department", "template"]
    search_fields = ["name", "mission"]
    inlines = [PerspectiveInline]


class IndicatorInline(admin.TabularInline):
    model = models.Indicator
    fields = ["name", "metric", "optimization", "baseline", "target", "weight", "cascaded_from"]
    raw_id_fields = ["cascaded_from"]
    extra = 0


@admin.register(models.Goal)
class GoalAdmin(admin.ModelAdmin):
    list_display = ["name", "perspective", "parent", "weight", "cascaded_from"]
    list_filter = ["perspective__scorecard"]
    search_fields = ["name"]
    raw_id_fields = ["parent", "cascaded_from"]
    inlines = [IndicatorInline]


@admin.register(models.Indicator)
class IndicatorAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "goal",
        "metric",
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
class ManualValueAdmin(admin.ModelAdmin):
    list_display = ["indicator", "period_start", "value", "entered_by", "entered_at"]
    raw_id_fields = ["indicator", "entered_by"]


@admin.register(models.GoalLink)
class GoalLinkAdmin(admin.ModelAdmin):
    list_display = ["scorecard", "cause", "effect"]
    raw_id_fields = ["cause", "effect"]


@admin.register(models.Initiative)
class InitiativeAdmin(admin.ModelAdmin):
    list_display = ["name", "goal", "owner", "start", "due", "budget", "status"]
    list_filter = ["status"]
    raw_id_fields = ["goal"]
