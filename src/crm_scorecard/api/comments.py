"""The comment operations of the JSON API: list and add comments on an indicator's values.
Registered on the API by `endpoints` (`comments_routes`), with its error answers. An
indicator outside the caller's departments answers 404 like one that does not exist;
whoever can see it may comment on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, NinjaAPI, Query, Schema, Status

from crm_scorecard.errors import Invalid
from crm_scorecard.scorecards import comments as cm
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards.models import IndicatorComment


class CommentIn(Schema):
    period: str = Field(description="the month the comment is about (YYYY-MM), not in the future")
    text: str = Field(min_length=1, max_length=cm.MAX_LENGTH, description="the comment, as text")


class CommentOut(Schema):
    """A person's comment on an indicator's value for a month."""

    id: int
    indicator: int
    period: str = Field(description="YYYY-MM")
    text: str
    author: str | None = Field(description="the author's username; None: a former user")
    created_at: datetime


class CommentPageIn(Schema):
    limit: int = Field(50, ge=1, le=500, description="at most this many items (1-500)")
    offset: int = Field(0, ge=0, le=1_000_000, description="skip this many items first")


class CommentPage(Schema):
    count: int = Field(description="how many comments the indicator has")
    limit: int
    offset: int
    items: list[CommentOut]


def _out(c: IndicatorComment) -> dict[str, Any]:
    return {
        "id": c.pk,
        "indicator": c.indicator_id,
        "period": f"{c.period_start:%Y-%m}",
        "text": c.text,
        "author": c.author.get_username() if c.author is not None else None,
        "created_at": c.created_at,
    }


def comments_routes(api: NinjaAPI, *, errors: Callable[..., dict[int, Any]]) -> None:
    """Add the comment operations to `api`; `errors(*statuses)` gives their error answers."""

    @api.get(
        "/indicators/{pk}/comments",
        response={200: CommentPage, **errors(404)},
        tags=["scorecards"],
    )
    def indicator_comments(
        request: HttpRequest, pk: int, page: Query[CommentPageIn]
    ) -> dict[str, Any]:
        """The comments on an indicator's values, oldest month first."""
        indicator = sel.indicator_get(user=request.user, pk=pk)
        found = cm.indicator_comments(indicator_ids=[indicator.pk]).get(indicator.pk, [])
        part = found[page.offset : page.offset + page.limit]
        return {
            "count": len(found),
            "limit": page.limit,
            "offset": page.offset,
            "items": [_out(c) for c in part],
        }

    @api.post(
        "/indicators/{pk}/comments",
        response={201: CommentOut, **errors(400, 403, 404)},  # 400: a body that is not JSON
        tags=["scorecards"],
    )
    def indicator_comment_add(
        request: HttpRequest, pk: int, body: CommentIn
    ) -> Status[dict[str, Any]]:
        """Comment on an indicator's value for a month (anyone who can see the indicator)."""
        indicator = sel.indicator_get(user=request.user, pk=pk)
        if "\x00" in body.period:
            raise Invalid("period: cannot contain a NUL character (\\x00)")
        comment = cm.comment_add(
            indicator=indicator, period=body.period, text=body.text, author=request.user
        )
        return Status(201, _out(comment))
