"""The JSON API (OpenAPI at /api/docs). Thin: parse, call selectors and services, return.
Every endpoint requires a signed-in session or a personal API token (`api.auth`) and answers
within the caller's departments.

The domain's errors (`crm_scorecard.errors`) are mapped here, once: `NotFound` is 404,
`NotAllowed` 403 and `Invalid` 422, each as `{"detail": reason}`; every operation that can
answer one of them lists it in its OpenAPI responses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from ninja import Field, NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, HttpError
from pydantic import create_model

from crm_scorecard.api.alerts import alerts_routes
from crm_scorecard.api.auth import API_AUTH, refusal, signed_in_only
from crm_scorecard.api.comments import comments_routes
from crm_scorecard.api.profile import profile_router
from crm_scorecard.api.segments import segments_router
from crm_scorecard.api.writes import WRITABLE, Writable, records_write
from crm_scorecard.crm import selectors as crm
from crm_scorecard.errors import Invalid, NotAllowed, NotFound
from crm_scorecard.metrics.api import (
    DIMENSIONS,
    GRAINS,
    MetricError,
    UnknownColumn,
    metric_series,
    registry,
)
from crm_scorecard.reports.exports import CONTENT_TYPES, Format, report_export
from crm_scorecard.reports.tables import Table
from crm_scorecard.scorecards import files, scoring
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards import services as svc

api = NinjaAPI(
    title="CRM Scorecard API",
    version="1",
    auth=API_AUTH,
    docs_decorator=signed_in_only,  # the description too is for signed-in callers only
    urls_namespace="api",
)


class ErrorOut(Schema):
    """Why the request was refused; a malformed request lists each problem."""

    detail: str | list[dict[str, Any]]


def _errors(*statuses: int) -> dict[int, type[Schema]]:
    """The error answers an operation can give, for its OpenAPI responses: `statuses`, and
    for every operation 401 (no session or token, or a token refused) and 422 (a parameter
    that is malformed or out of bounds, listed with where it is, or a rule's refusal)."""
    return {status: ErrorOut for status in sorted({401, 422, *statuses})}


api.add_router("/profile", profile_router(_errors))


api.add_router("/segments", segments_router(_errors))


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    return refusal(str(exc))


@api.exception_handler(NotFound)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Not found."}, status=404)


# NotAllowed is Django's PermissionDenied; ninja maps the latter to 403 too, without the reason.
@api.exception_handler(NotAllowed)
def _not_allowed(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Not allowed."}, status=403)


@api.exception_handler(Invalid)
def _invalid(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=422)


class ScorecardOut(Schema):
    id: int
    name: str
    department: str
    period: str | None
    score: float | None
    status: str
    change: float | None
    error: str | None = None  # why the scorecard cannot be scored (status "unscorable")


class NodeOut(Schema):
    """A part of the scored tree: its score (None: no data), stop-light and weights."""

    name: str
    score: float | None
    status: str = Field(description="green, yellow, red, or grey for no data")
    weight: float
    absolute_weight: float = Field(description="its share of the whole scorecard")


class IndicatorResultOut(NodeOut):
    metric: str | None = Field(description="the metric it reads; None: values typed by hand")
    scope: str | None
    unit: str
    value: float | None
    performance: float | None
    progress: float | None
    target: float | None
    period: str | None = Field(description="the month its value is for (YYYY-MM)")
    stale: bool = Field(description="true when its value is older than the month asked for")


class GoalResultOut(NodeOut):
    """A perspective or a goal: what it holds, scored."""

    no_data: list[str] = Field([], description="what it holds that has no data")
    goals: list[GoalResultOut]
    indicators: list[IndicatorResultOut]


GoalResultOut.model_rebuild()


class PriorityOut(Schema):
    name: str
    score: float
    absolute_weight: float
    impact: float = Field(description="absolute weight x (1 - score): what fixing it gains")


class ScorecardTreeOut(NodeOut):
    """The scored tree, as `crm-scorecard scorecard evaluate --json` prints it, for `period`,
    with the indicators to fix first."""

    period: str
    no_data: list[str] = Field([], description="perspectives that have no data")
    perspectives: list[GoalResultOut]
    fix_first: list[PriorityOut]


class MetricOut(Schema):
    key: str
    name: str
    kind: str
    unit: str
    direction: str
    meaning: str


class PointOut(Schema):
    period_start: date
    dimension: str | None
    dimension_value: str | None
    value: float | None


class CustomerOut(Schema):
    external_id: str
    full_name: str
    email: str
    phone: str
    city: str
    country: str
    status: str
    department: str


class ValueIn(Schema):
    value: float


class ValueOut(Schema):
    indicator: int
    period: str
    value: float


class PageIn(Schema):
    """Which part of a long list to answer: `limit` items after the first `offset`."""

    limit: int = Field(50, ge=1, le=500, description="at most this many items (1-500)")
    offset: int = Field(0, ge=0, le=1_000_000, description="skip this many items first")


class PageOut(Schema):
    """One part of a list, and how many items the whole list holds."""

    count: int = Field(description="how many items the whole list holds")
    limit: int
    offset: int


class ScorecardPage(PageOut):
    items: list[ScorecardOut]


class MetricPage(PageOut):
    items: list[MetricOut]


class PointPage(PageOut):
    items: list[PointOut]


class CustomerPage(PageOut):
    count_is_exact: bool = Field(
        description=f"false when more than {crm.SEARCH_COUNT_CAP} customers match: "
        "`count` is then that cap"
    )
    items: list[CustomerOut]


def _page(items: Sequence[Any], page: PageIn, **extra: Any) -> dict[str, Any]:
    """The part of `items` that `page` asks for, with the count of all of them."""
    part = items[page.offset : page.offset + page.limit]
    return {"count": len(items), "limit": page.limit, "offset": page.offset, "items": part, **extra}


def _text(value: str, name: str) -> str:
    """Text no database can hold is refused: PostgreSQL rejects a NUL character (a 500)."""
    if "\x00" in value:
        raise Invalid(f"{name} cannot contain a NUL character (\\x00)")
    return value


def _period(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return files.parse_period(text)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


@api.get("/scorecards", response={200: ScorecardPage, **_errors(422)}, tags=["scorecards"])
def scorecards(
    request: HttpRequest, page: Query[PageIn], period: str | None = None
) -> dict[str, Any]:
    """The scorecards of the caller's departments, by department and name, each scored for
    `period` (default the month pages open on)."""
    month = _period(period)
    visible = sel.scorecards_visible(user=request.user).order_by("department__name", "name", "pk")
    count = visible.count()
    out = []
    version = sel.kpi_version()
    for card in visible[page.offset : page.offset + page.limit]:
        try:
            ev = sel.evaluation(scorecard=card, period=month, version=version)
        except scoring.DefinitionError as exc:
            out.append(
                {
                    "id": card.pk,
                    "name": card.name,
                    "department": card.department.name,
                    "period": None,
                    "score": None,
                    "status": "unscorable",
                    "change": None,
                    "error": str(exc),
                }
            )
            continue
        out.append(
            {
                "id": card.pk,
                "name": card.name,
                "department": card.department.name,
                "period": ev.period,
                "score": ev.result.score,
                "status": ev.result.status.value,
                "change": ev.change,
            }
        )
    return {"count": count, "limit": page.limit, "offset": page.offset, "items": out}


@api.get(
    "/scorecards/{pk}",
    response={200: ScorecardTreeOut, **_errors(404, 409, 422)},
    tags=["scorecards"],
)
def scorecard(request: HttpRequest, pk: int, period: str | None = None) -> dict[str, Any]:
    """The scored tree, in the shape `crm-scorecard scorecard evaluate --json` prints."""
    card = sel.scorecard_get(user=request.user, pk=pk)
    try:
        ev = sel.evaluation(scorecard=card, period=_period(period))
    except scoring.DefinitionError as exc:
        raise HttpError(409, f"{card.name} cannot be scored: {exc}") from None
    data = ev.result.to_dict()
    data["period"] = ev.period
    data["fix_first"] = [p.__dict__ for p in sel.fix_first(ev)]
    return data


@api.get(
    "/scorecards/{pk}/export",
    response=_errors(404),
    openapi_extra={
        "responses": {
            200: {"description": "The scorecard file", "content": {"application/yaml": {}}}
        }
    },
    tags=["scorecards"],
)
def scorecard_export(request: HttpRequest, pk: int) -> HttpResponse:
    card = sel.scorecard_get(user=request.user, pk=pk)
    return HttpResponse(files.dump(sel.scorecard_export(card)), content_type="application/yaml")


def _binary(description: str, *content_types: str) -> dict[str, Any]:
    """An OpenAPI 200 answer that is a file of one of `content_types`."""
    schema = {"type": "string", "format": "binary"}
    content = {kind.split(";")[0]: {"schema": schema} for kind in content_types}
    headers = {"Content-Disposition": {"schema": {"type": "string"}}}
    return {
        "responses": {200: {"description": description, "content": content, "headers": headers}}
    }


@api.get(
    "/scorecards/{pk}/report",
    response=_errors(404, 409, 422),
    openapi_extra=_binary(
        "The report as a file: a PDF board pack, an Excel workbook or one table as CSV",
        *CONTENT_TYPES.values(),
    ),
    tags=["scorecards"],
)
def scorecard_report(
    request: HttpRequest,
    pk: int,
    format: Format,
    period: str | None = None,
    table: Table = Table.TREE,
    by: Annotated[list[str] | None, Query()] = None,
) -> HttpResponse:
    """The scorecard for `period` (YYYY-MM; default the month pages open on) as a PDF board
    pack, an Excel workbook (with breakdowns of metric indicators by each dimension in `by`)
    or one of its tables as CSV (`table`). Holds only what the caller may see; a scorecard
    that cannot be scored answers 409 with why."""
    try:
        export = report_export(
            user=request.user,
            pk=pk,
            fmt=format,
            period=_text(period, "period") if period else None,
            breakdowns=[_text(d, "by") for d in by or () if d],
            table=table,
        )
    except scoring.DefinitionError as exc:
        card = sel.scorecard_get(user=request.user, pk=pk)
        raise HttpError(409, f"{card.name} cannot be scored: {exc}") from None
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=export.filename
    )
    return response


@api.put(
    "/indicators/{pk}/values/{period}",
    response={200: ValueOut, **_errors(400, 403, 404, 422)},  # 400: a body that is not JSON
    tags=["scorecards"],
)
def indicator_value(request: HttpRequest, pk: int, period: str, body: ValueIn) -> dict[str, Any]:
    """Enter a manual indicator's value for a month (managers of the department)."""
    indicator = sel.indicator_get(user=request.user, pk=pk)
    if not sel.can_edit(user=request.user, scorecard=indicator.goal.perspective.scorecard):
        raise NotAllowed("Only a manager of this department may enter values.")
    month = _period(period)
    assert month is not None
    svc.manual_value_set(indicator=indicator, period=month, value=body.value, user=request.user)
    return {"indicator": indicator.pk, "period": month, "value": body.value}


@api.get("/metrics", response={200: MetricPage, **_errors(422)}, tags=["metrics"])
def metrics(request: HttpRequest, page: Query[PageIn]) -> dict[str, Any]:
    """The metrics that indicators and `GET /metrics/{key}` can read."""
    return _page(list(registry()), page)


@api.get("/metrics/{key}", response={200: PointPage, **_errors(404, 422)}, tags=["metrics"])
def metric(
    request: HttpRequest,
    key: str,
    page: Query[PageIn],
    grain: str = "month",
    by: str | None = None,
    since: date | None = None,
    until: date | None = None,
    filter: str | None = None,
) -> dict[str, Any]:
    """A metric computed live within the caller's departments. `filter` is DIMENSION=VALUE."""
    if grain not in GRAINS:
        raise Invalid(f"grain must be one of {', '.join(GRAINS)}")
    if by and by not in DIMENSIONS:
        raise Invalid(f"unknown dimension {by!r}; dimensions are {', '.join(DIMENSIONS)}")
    filters = {}
    if filter:
        if "=" not in _text(filter, "filter"):
            raise Invalid("filter takes DIMENSION=VALUE")
        dim, value = filter.split("=", 1)
        filters[dim] = value
    try:
        if key not in registry():
            raise NotFound(f"unknown metric {key!r}")
        points = [
            p.as_dict()
            for p in metric_series(
                key=key,
                user=request.user,
                grain=grain,
                by=by,
                filters=filters,
                since=since,
                until=until,
            )
        ]
    except (MetricError, UnknownColumn) as exc:  # the metrics layer's refusals
        raise Invalid(str(exc)) from None
    return _page(points, page)


@api.get("/customers", response={200: CustomerPage, **_errors(422)}, tags=["customers"])
def customers(request: HttpRequest, q: str, page: Query[PageIn]) -> dict[str, Any]:
    """Customers of the caller's departments whose id, name, email or phone matches `q`,
    best first (as the search box ranks them). Matches are counted up to a cap."""
    # Past the cap matches are neither counted nor ranked: no page reaches beyond it.
    wanted = min(page.offset + page.limit, crm.SEARCH_COUNT_CAP)
    found = crm.customer_search_page(user=request.user, query=_text(q, "q"), limit=wanted)
    part = found.customers[page.offset :]
    return {
        "count": found.total,
        "count_is_exact": found.total_is_exact,
        "limit": page.limit,
        "offset": page.offset,
        "items": [_customer(c) for c in part],
    }


@api.get(
    "/customers/{external_id}",
    response={200: CustomerOut, **_errors(404, 422)},
    tags=["customers"],
)
def customer(request: HttpRequest, external_id: str) -> dict[str, Any]:
    external_id = _text(external_id, "a customer id")
    return _customer(crm.customer_360(user=request.user, external_id=external_id)["customer"])  # type: ignore[arg-type]


def _customer(c: Any) -> dict[str, Any]:
    return {
        "external_id": c.external_id,
        "full_name": c.full_name,
        "email": c.email,
        "phone": c.phone,
        "city": c.city,
        "country": c.country,
        "status": c.status,
        "department": c.department.name,
    }


def _record_in(kind: Writable) -> type[Schema]:
    """A record as a row of its import file has it: the same columns, the same rules."""
    fields: dict[str, Any] = {}
    for column in kind.columns:
        typ = kind.column_type(column)
        if kind.required(column):
            fields[column] = (typ, ...)
        else:
            fields[column] = (typ | None, None)
    name = f"{kind.entity.title().rstrip('s')}In"
    return create_model(name, __base__=Schema, __doc__=_record_in.__doc__, **fields)


class FieldErrorOut(Schema):
    field: str
    reason: str


class RefusedOut(Schema):
    index: int = Field(description="the record's place in the list sent, from 0")
    id: str = Field(description="the record's id as sent")
    errors: list[FieldErrorOut]


class WrittenOut(Schema):
    dry_run: bool
    imported: int = Field(description="records created (on a dry run: would be)")
    updated: int
    rejected: int
    refused: list[RefusedOut]


def _writer(kind: Writable) -> None:
    """POST /api/<entity>: the records of one kind, created or updated by their id."""
    record = _record_in(kind)
    fields: dict[str, Any] = {kind.entity: (list[record], Field(min_length=1, max_length=1000))}  # type: ignore[valid-type]
    body_schema = create_model(f"{record.__name__[:-2]}sIn", __base__=Schema, **fields)

    def write(request: HttpRequest, body: body_schema, dry_run: bool = False) -> Any:  # type: ignore[valid-type]
        records = [r.model_dump() for r in getattr(body, kind.entity)]
        return records_write(
            user=request.user, entity=kind.entity, records=records, dry_run=dry_run
        )

    # The body's schema is made here, so the annotation (a string, as everywhere in this
    # module) could not be resolved by name: give ninja the class itself.
    write.__annotations__.update(request=HttpRequest, body=body_schema, dry_run=bool)
    write.__doc__ = (
        f"Create or update {kind.entity} of your departments ({kind.who()}), up to 1,000 at "
        f"once, by their `{kind.id_column}` and the rules of `crm-scorecard import "
        f"{kind.entity}`: each refused record is listed with each field's reason and the "
        "others are written. `dry_run` checks them all and writes nothing."
    )
    api.post(
        f"/{kind.entity}",
        response={200: WrittenOut, **_errors(400, 403)},
        tags=[kind.entity],
        operation_id=f"{kind.entity}_write",
        summary=f"Write {kind.entity}",
    )(write)


for _kind in WRITABLE.values():
    _writer(_kind)

alerts_routes(api, errors=_errors)
comments_routes(api, errors=_errors)
