"""Records written through the API (customers, orders, leads, interactions, feedback,
complaints) go through the importer (`crm.imports.records_import`) as a file of them would,
so the rules and the reasons for refusing a record are the same; first each record is held
to the caller's departments, which the importer (an operator's tool) does not know about.
An order comes with its `lines`, which become the rows of its order file: written together,
or refused together with the line and field at fault."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from django import forms
from django.db import models, transaction
from django.db.models import Q
from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt, create_model

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.accounts.scope import Actor, departments_for, restrict
from crm_scorecard.crm.changes import tables_touch
from crm_scorecard.crm.imports import SPECS, ImportFileError, YesNo, records_import
from crm_scorecard.crm.models import (
    Complaint,
    Customer,
    Feedback,
    Interaction,
    Lead,
    Order,
    OrderLine,
)
from crm_scorecard.crm.selectors import customers_visible
from crm_scorecard.errors import Invalid, NotAllowed
from crm_scorecard.metrics.api import refresh_mirror

NUL = "contains a NUL character (\\x00), which cannot be stored"
BROKEN = "is not valid Unicode text (a lone surrogate)"


def _unstorable(value: str) -> str | None:
    """Why text cannot be stored (PostgreSQL holds neither), or None."""
    if "\x00" in value:
        return NUL
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return BROKEN
    return None


@dataclass(frozen=True)
class Writable:
    """A kind of record the API writes: the importer's entity, where its department is, and
    who (besides executives) may write it."""

    entity: str
    model: type[models.Model]
    scope_field: str
    writers: tuple[Level, ...]
    # the import file's columns that belong to each of a record's `lines` (an order's)
    line_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """The fields of a record: its import file's columns, except that an order's line
        columns come as its list of `lines`."""
        own = [c for c in SPECS[self.entity].columns if c not in self.line_columns]
        return own + (["lines"] if self.line_columns else [])

    @property
    def file_columns(self) -> list[str]:
        return list(SPECS[self.entity].columns)

    @property
    def id_column(self) -> str:
        return SPECS[self.entity].id_column

    def column_type(self, column: str) -> Any:
        """What JSON type a column takes: whole numbers, decimals (a number, or its digits
        as text), true/false, or text; strictly (no 0 for false, no "3" for 3), as the
        description says. An order's `lines`: a list of 1 to 1,000 lines."""
        if column == "lines" and self.line_columns:
            return Annotated[list[self.line_model()], Field(min_length=1, max_length=1000)]  # type: ignore[misc]
        field = SPECS[self.entity].columns[column]
        if isinstance(field, forms.DecimalField):  # (before IntegerField: a subclass of it)
            return StrictInt | StrictFloat | str
        if isinstance(field, forms.IntegerField):
            return StrictInt
        if isinstance(field, YesNo):
            return StrictBool
        return str

    def required(self, column: str) -> bool:
        return column == "lines" or column in SPECS[self.entity].required

    def line_model(self) -> type[BaseModel]:
        return _line_model(self)

    def who(self) -> str:
        names = [f"{level.label.lower()}s" for level in self.writers]
        return ", ".join(names) + " and executives"


@cache
def _line_model(kind: Writable) -> type[BaseModel]:
    """One line of a record (an order's): the line columns of its import file."""
    fields: dict[str, Any] = {}
    for column in kind.line_columns:
        typ = kind.column_type(column)
        fields[column] = (typ, ...) if kind.required(column) else (typ | None, None)
    name = f"{kind.entity.title().rstrip('s')}LineIn"
    return create_model(name, __doc__=_line_model.__doc__, **fields)


WRITABLE = {
    "customers": Writable("customers", Customer, "department", (Level.MANAGER,)),
    "orders": Writable(
        "orders",
        Order,
        "customer__department",
        (Level.MANAGER, Level.AGENT),
        line_columns=("product_sku", "quantity", "unit_price", "amount"),
    ),
    "leads": Writable("leads", Lead, "department", (Level.MANAGER, Level.AGENT)),
    "interactions": Writable(
        "interactions", Interaction, "department", (Level.MANAGER, Level.AGENT)
    ),
    "feedback": Writable(
        "feedback", Feedback, "customer__department", (Level.MANAGER, Level.AGENT)
    ),
    "complaints": Writable("complaints", Complaint, "department", (Level.MANAGER, Level.AGENT)),
}


def may_write(user: Actor, kind: Writable) -> bool:
    """The department's people at the kind's levels; executives any department's."""
    return isinstance(user, User) and (
        user.is_superuser or user.level in (*kind.writers, Level.EXECUTIVE)
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# The most lines one request may carry in all (a thousand orders of ten lines each).
MAX_LINES = 10_000


@dataclass(frozen=True)
class _Row:
    """A row of the import file made from the records: which record, and which of its
    lines (None: a record without lines)."""

    record: int
    line: int | None
    cells: dict[str, Any]


def _rows(kind: Writable, records: Sequence[dict[str, Any]]) -> list[_Row]:
    """The import file's rows: a record each, or for an order one per line, each line
    carrying its order's own columns."""
    if not kind.line_columns:
        return [_Row(index, None, record) for index, record in enumerate(records)]
    own = [c for c in kind.columns if c != "lines"]
    rows = []
    for index, record in enumerate(records):
        head = {c: record.get(c) for c in own}
        for number, line in enumerate(record.get("lines") or []):
            rows.append(_Row(index, number, {**head, **line}))
    return rows


def _field(kind: Writable, row: _Row, column: str) -> str:
    """A column as the caller knows it: an order's line column names its line."""
    if row.line is not None and column in kind.line_columns:
        return f"lines[{row.line}].{column}"
    return column


def records_write(
    *, user: Actor, entity: str, records: Sequence[dict[str, Any]], dry_run: bool = False
) -> dict[str, Any]:
    """Create or update records of `entity` (by their id) in the caller's departments. A
    record naming a department the caller cannot see, a customer outside them, or the id of
    a record outside them is refused with the reason; the importer refuses the rest as it
    would a file's rows. An order is written with all its lines or not at all, and an
    order sent again has the lines sent, no others. Returns what was done: counts and each
    refused record (`index` in `records`) with its reasons, each naming the field (an
    order's line as `lines[N].field`, from 0)."""
    kind = WRITABLE[entity]
    if not may_write(user, kind):
        raise NotAllowed(f"Only {kind.who()} may write {entity}.")
    spec = SPECS[entity]
    rows = _rows(kind, records)
    if len(rows) > MAX_LINES:
        raise Invalid(f"{len(rows)} lines in one request; send at most {MAX_LINES:,}")
    yours = {d.name.lower(): d.name for d in departments_for(user=user)}
    ids = [_cell(r.get(kind.id_column)) for r in records]
    # PostgreSQL cannot compare with such text, so it is not even looked up.
    clean_ids = [i for i in ids if _unstorable(i) is None]
    existing = kind.model._default_manager.filter(external_id__in=clean_ids)
    elsewhere = set(
        existing.exclude(
            pk__in=restrict(
                kind.model._default_manager.all(), user=user, field=kind.scope_field
            ).values("pk")
        ).values_list("external_id", flat=True)
    )
    there_before = set(existing.values_list("external_id", flat=True))
    customer_columns = [c for c, ref in spec.refs.items() if ref[0] is Customer]
    department_columns = [c for c, ref in spec.refs.items() if ref[0] is Department]
    wanted = {_cell(r.get(c)) for r in records for c in customer_columns}
    known_customers = set(
        customers_visible(user=user)
        .filter(external_id__in=[w for w in wanted if w and _unstorable(w) is None])
        .values_list("external_id", flat=True)
    )
    refused: dict[int, list[dict[str, str]]] = {}
    first_at: dict[str, int] = {}
    passed: list[int] = []
    for index, record in enumerate(records):
        problems = [
            {"field": _field(kind, row, c), "reason": reason}
            for row in rows
            if row.record == index
            for c in kind.file_columns
            if (reason := _unstorable(_cell(row.cells.get(c)))) is not None
        ]
        if problems:  # (the importer's words for a NUL) nothing else can be checked
            refused[index] = list({(p["field"], p["reason"]): p for p in problems}.values())
            continue
        for column in department_columns:
            department = _cell(record.get(column)).strip()
            if department and department.lower() not in yours:
                names = ", ".join(sorted(yours.values())) or "none"
                reason = f"no department named {department!r} among yours ({names})"
                problems.append({"field": column, "reason": reason})
        for column in customer_columns:
            customer = _cell(record.get(column))
            if customer and customer not in known_customers:
                problems.append(
                    {"field": column, "reason": f"no customer {customer!r} among yours"}
                )
        if ids[index] in elsewhere:
            reason = f"{ids[index]!r} is not yours to write"
            problems.append({"field": kind.id_column, "reason": reason})
        if kind.line_columns and ids[index].strip() in first_at:
            # The importer would take both as lines of one order: say so instead.
            reason = f"{ids[index]!r} appears again (first at index {first_at[ids[index].strip()]})"
            problems.append({"field": kind.id_column, "reason": reason})
        first_at.setdefault(ids[index].strip(), index)
        if problems:
            refused[index] = problems
        else:
            passed.append(index)
    report: dict[str, Any] = {"imported": 0, "updated": 0, "rejected_rows": []}
    row_at: dict[int, _Row] = {}
    if passed:
        chosen = [row for row in rows if row.record in set(passed)]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(kind.file_columns)
        for row in chosen:
            writer.writerow([_cell(row.cells.get(c)) for c in kind.file_columns])
        # The importer numbers a row by the file line it ends on (a value may hold line
        # breaks): read the file back the same way to know which record each number is.
        reader = csv.reader(io.StringIO(buffer.getvalue(), newline=""))
        next(reader)
        for row in chosen:
            next(reader)
            row_at[reader.line_num] = row
        try:
            with transaction.atomic():
                done = records_import(
                    entity=entity,
                    path=Path(f"api-{entity}.csv"),
                    data=buffer.getvalue().encode("utf-8"),
                    dry_run=dry_run,
                )
                report = done.as_dict()
                if kind.line_columns and not dry_run:
                    _lines_trim(kind, records, passed, report, row_at)
        except ImportFileError as exc:
            raise Invalid(str(exc)) from None
        if not dry_run and (done.imported or done.updated):
            refresh_mirror()  # pages and metrics read the mirror: as the import command does
    for rejected in report["rejected_rows"]:
        row = row_at[rejected["row"]]
        reasons = refused.setdefault(row.record, [])
        for error in rejected["errors"]:
            if (
                kind.line_columns
                and error["column"] == spec.group
                and "is not imported" in error["reason"]
            ):
                continue  # the importer's word on the other lines of an order refused for one
            said = {"field": _field(kind, row, error["column"]), "reason": error["reason"]}
            if said not in reasons:
                reasons.append(said)
    if kind.line_columns:
        # An order counts once, however many lines it has.
        written = [i for i in passed if i not in refused]
        report["imported"] = sum(ids[i] not in there_before for i in written)
        report["updated"] = len(written) - report["imported"]
    return {
        "dry_run": dry_run,
        "imported": report["imported"],
        "updated": report["updated"],
        "rejected": len(refused),
        "refused": [
            {"index": index, "id": ids[index], "errors": refused[index]}
            for index in sorted(refused)
        ],
    }


def _lines_trim(
    kind: Writable,
    records: Sequence[dict[str, Any]],
    passed: list[int],
    report: dict[str, Any],
    row_at: dict[int, _Row],
) -> None:
    """An order sent again has the lines sent: the lines it had beyond them go."""
    refused = {row_at[r["row"]].record for r in report["rejected_rows"]}
    stale = Q()
    for index in passed:
        if index not in refused:
            order_id = _cell(records[index].get(kind.id_column)).strip()
            count = len(records[index].get("lines") or [])
            stale |= Q(order__external_id=order_id, line_no__gt=count)
    if stale and OrderLine.objects.filter(stale).exists():
        tables_touch(Order, OrderLine)
        OrderLine.objects.filter(stale).delete()
