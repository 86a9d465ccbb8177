from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import ApiToken, Department, SignInIdentity, User
from .services import token_revoke


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "parent"]
    list_filter = ["parent"]
    search_fields = ["name"]


class SignInIdentityInline(admin.TabularInline):
    """Who the person is at the identity provider (single sign-on): shown, never typed.
    Deleting one lets the next sign-in with that provider id make a new user."""

    model = SignInIdentity
    extra = 0
    fields = ("issuer", "subject", "created_at", "last_sign_in_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [SignInIdentityInline]
    list_display = ["username", "email", "level", "is_staff", "is_active"]
    list_filter = ["level", "departments", "is_staff", "is_active"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("Access", {"fields": ("level", "departments")}),
    )
    filter_horizontal = ["departments", "groups", "user_permissions"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are seen and revoked here, never created or edited: a key is shown only to the
    person who creates it (`crm-scorecard tokens create`, or their own page)."""

    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at"]
    list_display += ["revoked_at"]
    list_filter = ["revoked_at", "expires_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at"]
    readonly_fields += ["revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.select_related("user"):
            token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")
