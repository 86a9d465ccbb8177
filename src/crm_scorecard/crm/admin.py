from django.contrib import admin

from . import models


@admin.register(models.Employee)
class EmployeeAdmin(admin.ModelAdmin):
    list_display = ["external_id", "full_name", "department", "role", "hired_at", "left_at"]
    list_filter = ["department", "role"]
    search_fields = ["external_id", "full_name"]
    raw_id_fields = ["user"]


@admin.register(models.EngagementAnswer)
class EngagementAnswerAdmin(admin.ModelAdmin):
    list_display = ["employee", "answered_at", "rating"]
    list_filter = ["rating", "employee__department"]
    search_fields = ["employee__full_name", "comment"]
    raw_id_fields = ["employee"]


@admin.register(models.Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "full_name",
        "email",
        "city",
        "country",
        "segment",
        "status",
        "department",
    ]
    list_filter = ["status", "segment", "department", "region", "country", "acquisition_channel"]
    search_fields = ["external_id", "full_name", "email", "phone"]
    raw_id_fields = ["owner"]
    show_full_result_count = False


@admin.register(models.Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "tier", "list_price"]
    list_filter = ["category", "tier"]
    search_fields = ["sku", "name"]


class OrderLineInline(admin.TabularInline):
    model = models.OrderLine
    raw_id_fields = ["product"]
    extra = 0


@admin.register(models.Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["external_id", "customer", "salesperson", "ordered_at", "channel"]
    list_filter = ["channel", "ordered_at"]
    search_fields = ["external_id", "customer__full_name", "customer__external_id"]
    raw_id_fields = ["customer", "salesperson"]
    inlines = [OrderLineInline]
    show_full_result_count = False


@admin.register(models.Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "source",
        "stage",
        "created_at",
        "converted_at",
        "owner",
        "department",
    ]
    list_filter = ["stage", "source", "department"]
    search_fields = ["external_id", "customer__full_name"]
    raw_id_fields = ["customer", "owner"]


@admin.register(models.Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "customer",
        "channel",
        "direction",
        "started_at",
        "agent",
        "handle_seconds",
    ]
    list_filter = ["channel", "direction", "resolved_first_contact", "department"]
    search_fields = ["external_id", "customer__full_name", "topics"]
    raw_id_fields = ["customer", "agent"]
    show_full_result_count = False


@admin.register(models.Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["external_id", "customer", "submitted_at", "rating", "recommend", "source"]
    list_filter = ["rating", "source"]
    search_fields = ["external_id", "customer__full_name", "comment"]
    raw_id_fields = ["customer"]


@admin.register(models.Complaint)
class ComplaintAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "customer",
        "category",
        "severity",
        "status",
        "opened_at",
        "resolved_at",
        "department",
    ]
    list_filter = ["category", "severity", "status", "department"]
    search_fields = ["external_id", "customer__full_name", "description"]
    raw_id_fields = ["customer"]
