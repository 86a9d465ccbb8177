"""Comments on an indicator's value for a month ("dip due to the warehouse move"): who may
add and delete them, and the reads the pages, the API and the board pack share. Anyone who
can see an indicator may comment on it; only a comment's author may delete it, and the
deletion stays in the audit trail (`history`)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm_scorecard.accounts.models import User
from crm_scorecard.accounts.scope import Actor
from crm_scorecard.errors import Invalid, NotAllowed, NotFound
from crm_scorecard.periods import PeriodError, month_first, month_index, month_of

from . import history
from .models import Indicator, IndicatorComment
from .selectors import scorecards_visible

MAX_LENGTH = 1000


def comment_period(text: str) -> date:
    """The month a comment is about, "YYYY-MM", not after the current month."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}", text):
            raise PeriodError(f"{text!r} is not a month (YYYY-MM)")
        month_index(text)
    except PeriodError as exc:
        raise Invalid(f"period: {exc}") from None
    start = month_first(text)
    today = timezone.localdate()
    if start > today:
        raise Invalid(f"period: {text} is in the future; the latest is {month_of(today)}")
    return start


@transaction.atomic
def comment_add(*, indicator: Indicator, period: str, text: str, author: Actor) -> IndicatorComment:
    """`author`'s comment on `indicator`'s value for `period`. The caller has found the
    indicator within the author's departments (`selectors.indicator_get`): whoever can see
    an indicator may comment on it. Empty text, text over MAX_LENGTH characters, a NUL
    character or a malformed or future month is refused, naming the field."""
    cleaned = text.strip()
    if not cleaned:
        raise Invalid("text: a comment cannot be empty")
    if len(cleaned) > MAX_LENGTH:
        raise Invalid(f"text: at most {MAX_LENGTH} characters (this one has {len(cleaned)})")
    if "\x00" in cleaned:
        raise Invalid("text: cannot contain a NUL character (\\x00)")
    if not isinstance(author, User) or not author.is_authenticated:
        raise NotAllowed("Sign in to comment.")
    comment = IndicatorComment(
        indicator=indicator, period_start=comment_period(period), text=cleaned, author=author
    )
    comment.full_clean()
    with history.acting(author):
        comment.save()
    return comment


@transaction.atomic
def comment_delete(*, comment: IndicatorComment, actor: Actor) -> None:
    """Delete a comment: its author only (403 for anyone else). The audit trail keeps that
    it was there, and who deleted it when."""
    if getattr(actor, "pk", None) is None or comment.author_id != actor.pk:
        raise NotAllowed("Only its author can delete a comment.")
    with history.acting(actor):
        comment.delete()


def comments_visible(*, user: Actor) -> QuerySet[IndicatorComment]:
    """Comments on the indicators of the scorecards `user` may see."""
    return IndicatorComment.objects.select_related("author").filter(
        indicator__goal__perspective__scorecard__in=scorecards_visible(user=user)
    )


def comment_get(*, user: Actor, pk: int) -> IndicatorComment:
    """A comment `user` may see; any other answers 404, like one that does not exist."""
    found = comments_visible(user=user).select_related("indicator").filter(pk=pk).first()
    if found is None:
        raise NotFound("No such comment.")
    return found


def indicator_comments(
    *, indicator_ids: Iterable[int], since: date | None = None, until: date | None = None
) -> dict[int, list[IndicatorComment]]:
    """The comments on each indicator (by id), oldest month first, within `since`..`until`
    (first days of months, inclusive). The caller has checked the reader may see them."""
    found = IndicatorComment.objects.select_related("author").filter(
        indicator_id__in=list(indicator_ids)
    )
    if since is not None:
        found = found.filter(period_start__gte=since)
    if until is not None:
        found = found.filter(period_start__lte=until)
    by_indicator: dict[int, list[IndicatorComment]] = defaultdict(list)
    for comment in found.order_by("period_start", "created_at", "pk"):
        by_indicator[comment.indicator_id].append(comment)
    return dict(by_indicator)


def author_name(comment: IndicatorComment) -> str:
    return comment.author.get_username() if comment.author is not None else "a former user"
