from django.contrib import admin

from . import models


@admin.register(models.RatingLink)
class RatingLinkAdmin(admin.ModelAdmin):
    """Links are issued from the customer 360 or `survey links`; the admin only looks (the
    token itself is never stored, so a link cannot be made here)."""

    list_display = ["customer", "created_at", "expires_at", "answered_at", "emailed_to"]
    list_filter = ["language", "customer__department"]
    search_fields = ["customer__external_id", "customer__full_name"]
    raw_id_fields = ["customer", "order", "interaction", "created_by", "feedback"]
    show_full_result_count = False

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
