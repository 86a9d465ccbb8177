"""Departments (a tree), users and their level: who may see what."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import models


class Level(models.TextChoices):
    """A person's place in the organisation, which decides how far they can see."""

    EXECUTIVE = "executive", "Executive"
    MANAGER = "manager", "Manager"
    ANALYST = "analyst", "Analyst"
    AGENT = "agent", "Agent"


class Department(models.Model):
    """A unit of the company (Sales, Customer Service, a sub-team...). Departments form a tree;
    records, scorecards and KPIs belong to one, and people see the departments they belong to."""

    name = models.CharField(max_length=120, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        seen: set[int | None] = {self.pk}
        node = self.parent
        while node is not None:
            if node.pk in seen:
                raise ValidationError({"parent": "A department cannot be inside itself."})
            seen.add(node.pk)
            node = node.parent


class User(AbstractUser):
    """A person who signs in: a CRM manager, a department head, an analyst or an agent.
    Their level and departments decide which customers, scorecards and KPIs they see."""

    level = models.CharField(max_length=16, choices=Level.choices, default=Level.AGENT)
    departments = models.ManyToManyField(Department, blank=True, related_name="members")

    @property
    def is_executive(self) -> bool:
        return self.level == Level.EXECUTIVE

    def clean(self) -> None:
        super().clean()
        # A password just set (set_password keeps the plain text until the save) must pass
        # the password rules measured against this person, so it cannot be their username.
        raw = getattr(self, "_password", None)
        if raw is not None:
            try:
                validate_password(raw, user=self)
            except ValidationError as exc:
                raise ValidationError({"password": exc.messages}) from None


class ApiToken(models.Model):
    """A personal key with which a script or another system calls the API as its owner: it
    sees and may change exactly what the owner may. Only a hash of the key is kept (the key
    itself is shown once, when created); it stops working when revoked or past its expiry."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'ERP sync'.")
    prefix = models.CharField(
        max_length=12, help_text="The key's first characters, to recognise it in a list."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class SignInIdentity(models.Model):
    """Who a person is at the company's identity provider (single sign-on with OpenID
    Connect): the provider (its issuer address) and its lasting id for the person (`sub`).
    The same person signs in as the same user here whatever their name, email or groups
    become there; their level and departments follow their groups at every sign-in."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255, help_text="The provider's id for the person (sub).")
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sign_in_identity_unique")
        ]
        verbose_name_plural = "sign-in identities"

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
