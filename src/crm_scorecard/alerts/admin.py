from django.contrib import admin

from . import models


@admin.register(models.DepartmentWebhook)
class DepartmentWebhookAdmin(admin.ModelAdmin):
    list_display = ["department", "url", "active"]


@admin.register(models.WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["webhook", "created_at", "sent_at", "attempts", "last_error"]
    readonly_fields = ["webhook", "created_at", "payload", "sent_at", "attempts", "last_error"]


@admin.register(models.Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "scorecard", "goal", "indicator", "active"]
