"""Records written through the API (customers, interactions, feedback, complaints) go through
the importer (`crm.imports.records_import`) as a file of them would, so the rules and the
reasons for refusing a record are the same; first each record is held to the caller's
departments, which the importer (an operator's tool) does not know about."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django import forms
from django.db import models
from pydantic import StrictBool, StrictInt

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.accounts.scope import Actor, departments_for, restrict
from crm_scorecard.crm.imports import SPECS, ImportFileError, YesNo, records_import
from crm_scorecard.crm.models import Complaint, Customer, Feedback, Interaction
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

    @property
    def columns(self) -> list[str]:
        return list(SPECS[self.entity].columns)

    @property
    def id_column(self) -> str:
        return SPECS[self.entity].id_column

    def column_type(self, column: str) -> Any:
        """What JSON type a column takes: whole numbers, true/false, or text; strictly (no
        0 for false, no "3" for 3), as the description says."""
        field = SPECS[self.entity].columns[column]
        if isinstance(field, forms.IntegerField):
            return StrictInt
        if isinstance(field, YesNo):
            return StrictBool
        return str

    def required(self, column: str) -> bool:
        return column in SPECS[self.entity].required

    def who(self) -> str:
        names = [f"{level.label.lower()}s" for level in self.writers]
        return ", ".join(names) + " and executives"


WRITABLE = {
    "customers": Writable("customers", Customer, "department", (Level.MANAGER,)),
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


def records_write(
    *, user: Actor, entity: str, records: Sequence[dict[str, Any]], dry_run: bool = False
) -> dict[str, Any]:
    """Create or update records of `entity` (by their id) in the caller's departments. A
    record naming a department the caller cannot see, a customer outside them, or the id of
    a record outside them is refused with the reason; the importer refuses the rest as it
    would a file's rows. Returns what was done: counts and each refused record (`index` in
    `records`) with its reasons, each naming the field."""
    kind = WRITABLE[entity]
    if not may_write(user, kind):
        raise NotAllowed(f"Only {kind.who()} may write {entity}.")
    spec = SPECS[entity]
    columns = kind.columns
    yours = {d.name.lower(): d.name for d in departments_for(user=user)}
    ids = [_cell(r.get(kind.id_column)) for r in records]
    # PostgreSQL cannot compare with such text, so it is not even looked up.
    clean_ids = [i for i in ids if _unstorable(i) is None]
    elsewhere = set(
        kind.model._default_manager.filter(external_id__in=clean_ids)
        .exclude(
            pk__in=restrict(
                kind.model._default_manager.all(), user=user, field=kind.scope_field
            ).values("pk")
        )
        .values_list("external_id", flat=True)
    )
    customer_columns = [c for c, ref in spec.refs.items() if ref[0] is Customer]
    department_columns = [c for c, ref in spec.refs.items() if ref[0] is Department]
    wanted = {_cell(r.get(c)) for r in records for c in customer_columns}
    known_customers = set(
        customers_visible(user=user)
        .filter(external_id__in=[w for w in wanted if w and _unstorable(w) is None])
        .values_list("external_id", flat=True)
    )
    refused: dict[int, list[dict[str, str]]] = {}
    passed: list[int] = []
    for index, record in enumerate(records):
        problems = [
            {"field": c, "reason": reason}
            for c in columns
            if (reason := _unstorable(_cell(record.get(c)))) is not None
        ]
        if problems:  # (the importer's words for a NUL) nothing else can be checked
            refused[index] = problems
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
        if problems:
            refused[index] = problems
        else:
            passed.append(index)
    report: dict[str, Any] = {"imported": 0, "updated": 0, "rejected_rows": []}
    record_at: dict[int, int] = {}
    if passed:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for index in passed:
            writer.writerow([_cell(records[index].get(c)) for c in columns])
        # The importer numbers a row by the file line it ends on (a value may hold line
        # breaks): read the file back the same way to know which record each number is.
        reader = csv.reader(io.StringIO(buffer.getvalue(), newline=""))
        next(reader)
        for index in passed:
            next(reader)
            record_at[reader.line_num] = index
        try:
            done = records_import(
                entity=entity,
                path=Path(f"api-{entity}.csv"),
                data=buffer.getvalue().encode("utf-8"),
                dry_run=dry_run,
            )
        except ImportFileError as exc:
            raise Invalid(str(exc)) from None
        report = done.as_dict()
        if not dry_run and (done.imported or done.updated):
            refresh_mirror()  # pages and metrics read the mirror: as the import command does
    for row in report["rejected_rows"]:
        index = record_at[row["row"]]
        refused.setdefault(index, []).extend(
            {"field": e["column"], "reason": e["reason"]} for e in row["errors"]
        )
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
