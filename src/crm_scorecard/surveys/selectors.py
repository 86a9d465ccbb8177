"""Reads for rating sheets. The customer's own sheet is found by its token alone (the token
is the credential); everything an employee sees is scoped to their departments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from crm_scorecard.accounts.scope import Actor, restrict
from crm_scorecard.crm.models import Customer, Interaction, Order

from .models import LinkStatus, RatingLink
from .services import Recipient
from .tokens import token_hash

AFTER_CHOICES = ("orders", "contacts")
"""What a campaign's customers were in touch about since its date."""


def rating_link_by_token(*, token: str) -> RatingLink:
    """The link a token opens, with its customer and subject; RatingLink.DoesNotExist for a
    token that was never issued (changed, guessed, or made up)."""
    return RatingLink.objects.select_related("customer", "order", "interaction").get(
        token_hash=token_hash(token)
    )


def rating_link_status(*, link: RatingLink, now: datetime | None = None) -> LinkStatus:
    """Whether the link still takes an answer."""
    if link.answered_at is not None:
        return LinkStatus.ANSWERED
    if link.expires_at <= (now or timezone.now()):
        return LinkStatus.EXPIRED
    return LinkStatus.OPEN


def rating_links_of(
    *, user: Actor, customer: Customer, limit: int = 20
) -> list[tuple[RatingLink, LinkStatus]]:
    """The customer's latest links with their status, as far as the user may see them."""
    qs = restrict(RatingLink.objects.all(), user=user, field="customer__department")
    links = qs.filter(customer=customer).select_related("order", "interaction")[:limit]
    now = timezone.now()
    return [(link, rating_link_status(link=link, now=now)) for link in links]


def rating_subjects(
    *, customer: Customer, limit: int = 50
) -> tuple[list[Order], list[Interaction]]:
    """The customer's latest orders and contacts, which a link may be about."""
    return list(customer.orders.all()[:limit]), list(customer.interactions.all()[:limit])


def campaign_customers(*, since: datetime, after: str | None = None) -> QuerySet[Customer]:
    """Customers with an order (`orders`), a contact (`contacts`), or either (None) since the
    date, for a campaign of links; with `after`, each is annotated with their latest such
    order (`last_order`) or contact (`last_contact`), which their link is about.
    Company-wide: the campaign command is run by an operator."""
    orders = Order.objects.filter(customer=OuterRef("pk"), ordered_at__gte=since)
    contacts = Interaction.objects.filter(customer=OuterRef("pk"), started_at__gte=since)
    qs = Customer.objects.only("pk", "external_id", "full_name", "email")
    if after == "orders":
        last_order = orders.order_by("-ordered_at", "-pk").values("pk")[:1]
        return qs.annotate(last_order=Subquery(last_order)).filter(last_order__isnull=False)
    if after == "contacts":
        last_contact = contacts.order_by("-started_at", "-pk").values("pk")[:1]
        return qs.annotate(last_contact=Subquery(last_contact)).filter(last_contact__isnull=False)
    return qs.filter(Exists(orders) | Exists(contacts))


def campaign_recipients(
    *, customers: QuerySet[Customer], batch_size: int = 1000
) -> Iterator[Recipient]:
    """Each campaign customer with what their link is about, read a batch at a time in id
    order (no cursor is held open while the links are written)."""
    last_pk = 0
    while batch := list(customers.filter(pk__gt=last_pk).order_by("pk")[:batch_size]):
        for c in batch:
            yield Recipient(
                customer=c,
                order_id=getattr(c, "last_order", None),
                interaction_id=getattr(c, "last_contact", None),
            )
        last_pk = batch[-1].pk
