"""GET /api/profile: the customer profile, as the Customers › Profile page and
`crm-scorecard profile --json` give it, within the caller's departments. Thin: parse, call
the metrics layer, return. Registered in `api.endpoints`, which maps the domain's errors
(an unknown dimension, a range that ends before it starts: 422 with why)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from crm_scorecard.errors import Invalid
from crm_scorecard.metrics.api import (
    PROFILE_MEASURES,
    customer_profile,
    profile_check,
    profile_dimensions,
)

Errors = Callable[..., dict[int, Any]]


class ProfileFilterOut(Schema):
    dimension: str
    value: str


class ProfileRowOut(Schema):
    """One combination of the dimensions' values ("(unknown)" where a record lacks one)."""

    values: list[str] = Field(description="one value per dimension in `by`, in that order")
    customers: int = Field(
        description="customers on record; by an order's dimension, those who ever bought there"
    )
    active_customers: int = Field(description="of them, with an order dated in the range")
    revenue: float = Field(description="order line amounts dated in the range")
    orders: int = Field(description="orders dated in the range")
    share: float | None = Field(
        None,
        description="with share=true: the measure's share of its heat-map row (two "
        "dimensions) or of the total (one); null where that sum is 0",
    )


class ProfileOut(Schema):
    """Every combination that has customers; a combination with none is absent (no data),
    never a row of zeros."""

    by: list[str]
    filters: list[ProfileFilterOut]
    since: date | None
    until: date | None
    measure: str
    rows: list[ProfileRowOut]


class MeasureOut(Schema):
    key: str
    name: str
    unit: str
    meaning: str


class ProfileChoicesOut(Schema):
    dimensions: list[str]
    measures: list[MeasureOut]


def parse_filters(texts: list[str]) -> list[tuple[str, str]]:
    """`DIMENSION=VALUE` texts as pairs."""
    pairs = []
    for text in texts:
        if "=" not in text:
            raise Invalid(f"a filter takes DIMENSION=VALUE, not {text!r}")
        name, value = text.split("=", 1)
        pairs.append((name.strip(), value.strip()))
    return pairs


def profile_router(errors: Errors) -> Router:
    """The profile's operations; `errors`: the API's declared error answers."""
    router = Router(tags=["customers"])

    @router.get("", response={200: ProfileOut, **errors()}, operation_id="customer_profile")
    def profile(
        request: HttpRequest,
        by: Annotated[list[str], Query(min_length=1, max_length=2)],
        measure: str = "customers",
        filter: Annotated[list[str] | None, Query()] = None,
        since: date | None = None,
        until: date | None = None,
        share: bool = False,
    ) -> dict[str, Any]:
        """Customers, active customers, revenue and orders of the caller's departments by
        one or two dimensions (`by`, repeated), filtered by `filter=DIMENSION=VALUE`
        (repeated) and dated in `since`..`until` (inclusive). Rows come largest `measure`
        first; `share=true` adds each row's share of its heat-map row."""
        pairs = parse_filters(filter or [])
        profile_check(by=by, filters=pairs, since=since, until=until, measure=measure)
        found = customer_profile(user=request.user, by=by, filters=pairs, since=since, until=until)
        return found.as_dict(measure, share=share)

    @router.get(
        "/dimensions",
        response={200: ProfileChoicesOut, **errors()},
        operation_id="customer_profile_dimensions",
    )
    def choices(request: HttpRequest) -> dict[str, Any]:
        """What a profile can be broken down and filtered by, and its measures."""
        return {
            "dimensions": profile_dimensions(),
            "measures": [m.__dict__ for m in PROFILE_MEASURES.values()],
        }

    return router
