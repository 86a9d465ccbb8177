"""The alert operations of the JSON API: a person's digests (list, mark read) and what they
follow (list, follow or mute). Registered on the API by `endpoints` (`alerts_routes`), with
its error answers; each answers only about the caller's own alerts and what they can see."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, NinjaAPI, Schema
from pydantic import StrictBool, StrictInt

from crm_scorecard.alerts.services import (
    digest_mark_read,
    digests_of,
    subscription_set,
    subscriptions_of,
)


class AlertItemOut(Schema):
    """One change: a name as typed (text), what happened, and where to look."""

    kind: str = Field(description="colour, manual or sla")
    subject_type: str = Field(description="indicator, goal or complaint")
    subject_id: int
    state: str = Field(description="red/ok (colour), due/overdue (manual), overdue (sla)")
    previous: str | None
    change: str
    name: str
    detail: str
    department: str
    scorecard: str
    path: str = Field(description="the page about it")


class DigestOut(Schema):
    id: int
    created_at: datetime
    read: bool
    items: list[AlertItemOut]


class DigestPage(Schema):
    unread: int
    items: list[DigestOut]


class MarkedOut(Schema):
    marked: int


class FollowIn(Schema):
    subject: Literal["scorecard", "goal", "indicator"]
    id: StrictInt = Field(ge=1, le=2**62)
    follow: StrictBool = Field(True, description="false: mute it (also where followed by default)")


class FollowingOut(Schema):
    subject: str
    subject_id: int
    name: str
    department: str
    active: bool
    default: bool = Field(description="followed as the department's manager, not by choice")


def _digest(d: Any) -> dict[str, Any]:
    return {"id": d.pk, "created_at": d.created_at, "read": d.read_at is not None, "items": d.items}


def alerts_routes(api: NinjaAPI, errors: Callable[..., dict[int, Any]]) -> None:
    """Add the alert operations to `api`; `errors` lists an operation's error answers."""

    @api.get("/alerts", response={200: DigestPage, **errors()}, tags=["alerts"])
    def alerts(request: HttpRequest) -> dict[str, Any]:
        """Your alert digests, newest first (at most 200), each one run's changes about
        what you can see."""
        found = digests_of(user=request.user)
        return {
            "unread": sum(1 for d in found if d.read_at is None),
            "items": [_digest(d) for d in found],
        }

    @api.post("/alerts/{pk}/read", response={200: MarkedOut, **errors(404)}, tags=["alerts"])
    def alert_read(request: HttpRequest, pk: int) -> dict[str, Any]:
        """Mark one of your digests read (someone else's answers 404)."""
        return {"marked": digest_mark_read(user=request.user, pk=pk)}

    @api.post("/alerts/read", response={200: MarkedOut, **errors()}, tags=["alerts"])
    def alerts_read(request: HttpRequest) -> dict[str, Any]:
        """Mark all your digests read."""
        return {"marked": digest_mark_read(user=request.user)}

    @api.get(
        "/alerts/subscriptions", response={200: list[FollowingOut], **errors()}, tags=["alerts"]
    )
    def subscriptions(request: HttpRequest) -> list[Any]:
        """What you follow or muted, and the scorecards you follow as a manager."""
        return list(subscriptions_of(user=request.user))

    # 400: a body that is not JSON
    @api.put(
        "/alerts/subscriptions", response={200: FollowingOut, **errors(400, 404)}, tags=["alerts"]
    )
    def subscribe(request: HttpRequest, body: FollowIn) -> Any:
        """Follow (or mute) a scorecard, goal or indicator you can see; one you cannot see
        answers 404, like one that does not exist."""
        return subscription_set(
            user=request.user, subject=body.subject, pk=body.id, follow=body.follow
        )
