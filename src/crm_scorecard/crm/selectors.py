"""Reads from the customer database, always scoped to what the acting user may see."""

from __future__ import annotations

from django.db.models import Q, QuerySet, Sum

from crm_scorecard.accounts.scope import Actor, restrict
from crm_scorecard.errors import NotFound

from .models import Customer

SEARCH_MIN_CHARS = 2


def customers_visible(*, user: Actor) -> QuerySet[Customer]:
    """Every customer of the departments the user may see."""
    return restrict(Customer.objects.all(), user=user)


def customer_search(*, user: Actor, query: str, limit: int = 20) -> list[Customer]:
    """Customers whose name, email or phone contains the text, or whose id starts with it.

    On PostgreSQL a trigram index serves the `contains` matches, so this stays fast on a
    million customers."""
    text = query.strip()
    # No stored value holds a NUL (imports refuse it; PostgreSQL cannot store it), so such a
    # query matches nothing, and PostgreSQL would refuse to compare with it.
    if len(text) < SEARCH_MIN_CHARS or "\x00" in text:
        return []
    match = (
        Q(full_name__icontains=text)
        | Q(email__icontains=text)
        | Q(phone__contains=text)
        | Q(external_id__istartswith=text)
    )
    qs = customers_visible(user=user).filter(match).select_related("department")
    return list(qs.order_by("full_name", "pk")[:limit])


def customer_get(*, user: Actor, external_id: str) -> Customer:
    """One customer the user may see, by the id the company knows it by; a customer outside
    their departments answers exactly like one that does not exist (404)."""
    if "\x00" in external_id:  # no id holds a NUL; PostgreSQL would refuse to look
        raise NotFound("No such customer.")
    try:
        return (
            customers_visible(user=user)
            .select_related("department", "owner")
            .get(external_id=external_id)
        )
    except Customer.DoesNotExist:
        raise NotFound("No such customer.") from None


def customer_360(*, user: Actor, external_id: str, recent: int = 50) -> dict[str, object]:
    """One customer's whole story for a front-line agent: profile, purchases, contacts,
    feedback and complaints. Out of scope answers exactly like not found."""
    customer = customer_get(user=user, external_id=external_id)
    orders = list(
        customer.orders.select_related("salesperson")
        .annotate(total=Sum("lines__amount"))
        .prefetch_related("lines__product")[:recent]
    )
    return {
        "customer": customer,
        "orders": orders,
        "order_count": customer.orders.count(),
        "interactions": list(customer.interactions.select_related("agent")[:recent]),
        "feedback": list(customer.feedback.all()[:recent]),
        "complaints": list(customer.complaints.select_related("department")[:recent]),
    }
