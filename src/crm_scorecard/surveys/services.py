"""Writes for rating sheets: issuing links (one, or a campaign's worth), emailing one, and
taking a customer's answer as crm Feedback."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from crm_scorecard.accounts.models import User
from crm_scorecard.crm.models import Customer, Feedback, FeedbackSource, Interaction, Order

from .models import RatingLink
from .tokens import token_hash, token_new


class SheetClosed(Exception):
    """The link exists but takes no answer: it was answered already, or it expired."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class IssuedLink:
    """A link as it is handed out: the stored row and the token, which exists only here."""

    link: RatingLink
    token: str

    @property
    def url(self) -> str:
        return link_url(self.token)


@dataclass(frozen=True)
class Recipient:
    """Who a campaign asks, and what about (at most one of order and contact)."""

    customer: Customer
    order_id: int | None = None
    interaction_id: int | None = None


def link_url(token: str) -> str:
    """The address a customer opens: CRM_SITE_URL and the sheet's path."""
    return settings.CRM_SITE_URL.rstrip("/") + reverse("rating-sheet", args=[token])


def _expiry(now: datetime, days: int | None) -> datetime:
    return now + timedelta(days=settings.RATING_LINK_DAYS if days is None else days)


def rating_link_create(
    *,
    customer: Customer,
    created_by: User | None = None,
    order: Order | None = None,
    interaction: Interaction | None = None,
    language: str = "",
    days: int | None = None,
    now: datetime | None = None,
) -> IssuedLink:
    """Issue one link for a customer, optionally about one of their orders or contacts.
    The caller has checked that the acting person may see the customer."""
    now = now or timezone.now()
    token = token_new()
    link = RatingLink(
        token_hash=token_hash(token),
        customer=customer,
        order=order,
        interaction=interaction,
        language=language,
        created_at=now,
        expires_at=_expiry(now, days),
        created_by=created_by,
    )
    with transaction.atomic():
        link.full_clean()
        link.save()
    return IssuedLink(link=link, token=token)


def rating_links_issue(
    *,
    recipients: Iterable[Recipient],
    language: str = "",
    days: int | None = None,
    now: datetime | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], object] | None = None,
) -> Iterator[IssuedLink]:
    """Issue one link per recipient for a campaign, a batch at a time (each batch one
    transaction and one insert), yielding each link as its batch is stored."""
    now = now or timezone.now()
    expires = _expiry(now, days)
    rows = iter(recipients)
    while batch := list(islice(rows, batch_size)):
        issued = []
        for r in batch:
            token = token_new()
            link = RatingLink(
                token_hash=token_hash(token),
                customer=r.customer,
                order_id=r.order_id,
                interaction_id=r.interaction_id,
                language=language,
                created_at=now,
                expires_at=expires,
            )
            # Related rows come from the campaign's own query: checking each would cost a
            # query per link, so only the link's own fields are checked.
            link.clean_fields(exclude=["customer", "order", "interaction", "created_by"])
            issued.append(IssuedLink(link=link, token=token))
        with transaction.atomic():
            RatingLink.objects.bulk_create([i.link for i in issued])
        if progress is not None:
            progress(len(issued))
        yield from issued


def rating_link_email(*, issued: IssuedLink, now: datetime | None = None) -> str:
    """Email a freshly issued link to its customer, in the sheet's language, through
    Django's mail settings; the address it went to. Refused when the customer has none."""
    link = issued.link
    address = link.customer.email
    if not address:
        raise ValueError("This customer has no email address.")
    with translation.override(link.language or settings.RATING_SHEET_LANGUAGE):
        context = {"link": link, "url": issued.url, "customer": link.customer}
        subject = render_to_string("surveys/email_subject.txt", context).strip()
        body = render_to_string("surveys/email_body.txt", context)
    send_mail(subject, body, None, [address], using="default")
    with transaction.atomic():
        link.emailed_to = address
        link.emailed_at = now or timezone.now()
        link.full_clean()
        link.save(update_fields=["emailed_to", "emailed_at"])
    return address


def rating_sheet_answer(
    *,
    token: str,
    rating: int,
    recommend: int | None,
    comment: str,
    now: datetime | None = None,
) -> Feedback:
    """Take a customer's answer to their rating sheet and store it as Feedback (source
    `rating_sheet`), once: a second answer, or one after the link expired, raises
    SheetClosed and writes nothing; an unknown token raises RatingLink.DoesNotExist."""
    now = now or timezone.now()
    with transaction.atomic():
        link = RatingLink.objects.select_for_update().get(token_hash=token_hash(token))
        if link.answered_at is not None:
            raise SheetClosed("answered")
        if link.expires_at <= now:
            raise SheetClosed("expired")
        # Claim the link with a conditional update, so of two answers sent at once exactly
        # one gets it (databases without row locks too).
        if not RatingLink.objects.filter(pk=link.pk, answered_at__isnull=True).update(
            answered_at=now
        ):
            raise SheetClosed("answered")
        feedback = Feedback(
            external_id=f"RS-{link.pk}",
            customer_id=link.customer_id,
            submitted_at=now,
            rating=rating,
            recommend=recommend,
            comment=comment,
            source=FeedbackSource.RATING_SHEET,
        )
        feedback.full_clean()
        feedback.save()
        link.answered_at = now
        link.feedback = feedback
        link.save(update_fields=["answered_at", "feedback"])
    return feedback
