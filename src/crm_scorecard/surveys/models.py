"""Rating sheets: the voice of the customer asked for by a link that needs no sign-in.
An answer becomes crm Feedback (source `rating_sheet`), so it counts in the KPIs at once."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from crm_scorecard.crm.models import Customer, Feedback, Interaction, Order


class SheetLanguage(models.TextChoices):
    """The languages a rating sheet is translated into (surveys/locale); a link without one
    is shown in settings.RATING_SHEET_LANGUAGE."""

    ENGLISH = "en", "English"
    GERMAN = "de", "Deutsch"


class LinkStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    EXPIRED = "expired", "Expired"


class RatingLink(models.Model):
    """A rating sheet offered to one customer: the link they open without signing in to rate
    us 1 to 5, say how likely they are to recommend us (0 to 10) and comment, optionally
    about one of their orders or contacts. It takes one answer and closes when it expires.

    The link carries a random 32-byte token; only its SHA-256 is stored, so nobody can rebuild
    a link from the database, and a link cannot be guessed or pointed at another customer."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="rating_links")
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="rating_links"
    )
    interaction = models.ForeignKey(
        Interaction,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rating_links",
        verbose_name="contact",
    )
    language = models.CharField(max_length=8, choices=SheetLanguage.choices, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    emailed_to = models.EmailField(blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    feedback = models.OneToOneField(
        Feedback, null=True, blank=True, on_delete=models.SET_NULL, related_name="rating_link"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["customer", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="rating_link_expires_later"
            ),
            models.CheckConstraint(
                condition=Q(order__isnull=True) | Q(interaction__isnull=True),
                name="rating_link_one_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"Rating sheet for {self.customer_id} ({self.created_at:%Y-%m-%d})"

    def clean(self) -> None:
        # Both checks compare ids the objects already hold: no query.
        if self.order is not None and self.order.customer_id != self.customer_id:
            raise ValidationError({"order": "That order is another customer's."})
        if self.interaction is not None and self.interaction.customer_id != self.customer_id:
            raise ValidationError({"interaction": "That contact is another customer's."})
        if self.order_id is not None and self.interaction_id is not None:
            raise ValidationError("A rating sheet is about one order or one contact, not both.")
