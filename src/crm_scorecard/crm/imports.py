"""Import records from the systems a company already has (CSV or Excel files).

Rules: every bad row is reported with its row number, column and reason and kept out;
good rows go in; a row is in or out, never half-written; re-importing the same file
updates rather than duplicates (upsert by the record's id); a dry run validates only.
An order goes in whole or not at all, in one transaction with its lines. Row numbers are
the spreadsheet's: the header is row 1, the first record row 2."""

from __future__ import annotations

import csv
import gc
import io
import re
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.utils import timezone

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.services import department_create, departments_import

from . import models as m
from .changes import tables_touch
from .import_mapping import ColumnMapping, MappingError, did_you_mean, normalise_header
from .import_upsert import Columns, foreign_keys_off, records_upsert

# Rows validated and written together. SQLite's batches are larger: each one drops and
# makes again the table's row triggers (crm.import_upsert) and commits, and SQLite has no
# server to keep busy meanwhile. BATCH_SIZE, when set, is used on every database (tests).
BATCH_SIZE: int | None = None
BATCH_SIZES = {"sqlite": 20_000}
DEFAULT_BATCH_SIZE = 5000
# The most characters one cell may hold: Excel's own limit, so anything a spreadsheet can
# save fits. A longer cell is a row error.
MAX_CELL_CHARS = 32_767
# How long a CSV field may grow before the reader gives up on the rest of the file (the
# csv module's default, 128 KiB, would stop a file at its first long cell).
READ_LIMIT = 16 * 1024 * 1024


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable, wrong entity, missing columns),
    or cannot be read past some row. `report` holds what was done before, if anything."""

    def __init__(self, message: str, *, report: ImportReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class ImportStopped(ImportFileError):
    """Something unexpected stopped the import part-way; `report` counts what was written."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str
    # the file's own column(s) when a mapping filled `column` from another name
    source: str = ""

    def __str__(self) -> str:
        where = f"row {self.row}"
        if self.column:
            where += (
                f", column {self.source} ({self.column})"
                if self.source
                else f", column {self.column}"
            )
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "file_column": self.source or self.column,
            "reason": self.reason,
        }


@dataclass
class ImportReport:
    """What an import did, or would do on a dry run."""

    entity: str
    imported: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejected_rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    dry_run: bool = False
    # departments made for rows that named one not there yet (on a dry run: would be)
    created_departments: list[str] = field(default_factory=list)
    # what else a user should know: mapped columns the file has but that were not used
    notes: list[str] = field(default_factory=list)
    # an ignored column of the file -> the column of ours it may have meant
    suggestions: dict[str, str] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return len(self.rejected_rows)

    def summary(self) -> str:
        return f"imported {self.imported}, updated {self.updated}, rejected {self.rejected}"

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: counts, notes and every rejected row with its
        cells as given and its reasons."""
        reasons: dict[int, list[RowError]] = {}
        for error in self.errors:
            reasons.setdefault(error.row, []).append(error)
        return {
            "entity": self.entity,
            "dry_run": self.dry_run,
            "imported": self.imported,
            "updated": self.updated,
            "rejected": self.rejected,
            "summary": self.summary(),
            "ignored_columns": self.ignored_columns,
            "created_departments": self.created_departments,
            "notes": self.notes,
            "rejected_rows": [
                {
                    "row": number,
                    "values": {k: _cell(v) for k, v in raw.items() if k},
                    "errors": [e.as_dict() for e in reasons.get(number, [])],
                }
                for number, raw in self.rejected_rows
            ],
        }


# ---- parsing one value ----------------------------------------------------------------------


class ChoiceValue(forms.Field):
    """A choice given by its value or its label, in any letter case."""

    def __init__(self, choices: type[models.TextChoices], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lookup = {str(v).lower(): str(v) for v in choices.values}
        self.lookup.update({str(label).lower(): str(v) for v, label in choices.choices})
        self.allowed = ", ".join(str(v) for v in choices.values)

    def to_python(self, value: Any) -> str | None:
        if value in (None, ""):
            return None
        found = self.lookup.get(str(value).strip().lower())
        if found is None:
            raise ValidationError(f"{value!r} is not one of: {self.allowed}.")
        return found


class YesNo(forms.Field):
    """true/false, yes/no, 1/0 or empty; anything else is an error, never a silent null."""

    TRUE = {"true", "yes", "y", "1"}
    FALSE = {"false", "no", "n", "0"}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValidationError("Enter yes or no (true/false, 1/0).")


def text(max_length: int, required: bool = False) -> forms.Field:
    return forms.CharField(max_length=max_length, required=required)


# Dates are never guessed: ISO 8601 always, another layout only when the import names it
# (--date-format), so 03/04/2024 can never quietly become the 4th of March or the 3rd of April.
ISO_DATE = "%Y-%m-%d"


def _layout_hint(value: Any, date_format: str | None, kind: str) -> str:
    given = f"{str(value).strip()!r} is not" if value not in (None, "") else "expected"
    if date_format:
        return f"{given} {kind} or {date_format} (the --date-format given)."
    return (
        f"{given} {kind}; for another layout give --date-format, e.g. %d/%m/%Y or "
        "%m/%d/%Y (day-first and month-first are never guessed)."
    )


class IsoDate(forms.DateField):
    """A date written YYYY-MM-DD, or in the one layout the import was given."""

    def __init__(self, *, date_format: str | None = None, **kwargs: Any) -> None:
        formats = [ISO_DATE] + ([date_format] if date_format else [])
        super().__init__(input_formats=formats, **kwargs)
        self.date_format = date_format

    def with_format(self, date_format: str | None) -> IsoDate:
        return IsoDate(date_format=date_format, required=self.required)

    def to_python(self, value: Any) -> date | None:
        try:
            return super().to_python(value)
        except ValidationError:
            hint = _layout_hint(value, self.date_format, "YYYY-MM-DD")
            raise ValidationError(f"Enter a valid date. {hint}") from None


class IsoDateTime(forms.DateTimeField):
    """A timestamp in ISO 8601 (`2026-01-05`, `2026-01-05 10:00`, `2026-01-05T10:00:00Z`),
    or in the layout the import was given (with an optional ` %H:%M[:%S]` after it)."""

    def __init__(self, *, date_format: str | None = None, **kwargs: Any) -> None:
        formats: list[str] = []
        if date_format:
            formats = [date_format]
            if "%H" not in date_format and "%I" not in date_format:
                formats += [f"{date_format} %H:%M:%S", f"{date_format} %H:%M"]
        super().__init__(input_formats=formats, **kwargs)
        self.date_format = date_format

    def with_format(self, date_format: str | None) -> IsoDateTime:
        return IsoDateTime(date_format=date_format, required=self.required)

    def to_python(self, value: Any) -> datetime | None:
        try:
            return super().to_python(value)
        except ValidationError:
            hint = _layout_hint(value, self.date_format, "ISO 8601 (YYYY-MM-DD[ HH:MM[:SS]])")
            raise ValidationError(f"Enter a valid date/time. {hint}") from None


def date_format_check(date_format: str) -> None:
    """Refuse a --date-format that cannot read back a date it writes (a typo in it)."""
    sample = datetime(2024, 3, 15, 10, 22, 31)
    try:
        datetime.strptime(sample.strftime(date_format), date_format)
    except ValueError as exc:
        raise ImportFileError(
            f"--date-format {date_format!r} is not a date layout ({exc}); "
            "write it with strftime codes, e.g. %d/%m/%Y or %m/%d/%Y"
        ) from None
    if not any(code in date_format for code in ("%d", "%j")):
        raise ImportFileError(
            f"--date-format {date_format!r} has no day (%d); e.g. %d/%m/%Y or %m/%d/%Y"
        )


def when(required: bool = False) -> forms.Field:
    return IsoDateTime(required=required)


def day(required: bool = False) -> forms.Field:
    return IsoDate(required=required)


def choice(choices: type[models.TextChoices], required: bool = False) -> forms.Field:
    return ChoiceValue(choices, required=required)


def money(required: bool = False) -> forms.Field:
    return forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=required)


def whole(low: int | None = None, high: int | None = None, required: bool = False) -> forms.Field:
    return forms.IntegerField(min_value=low, max_value=high, required=required)


# ---- what each entity looks like ---------------------------------------------------------------

Ref = tuple[type[models.Model], str, str]  # (model, lookup field, model field to set)


@dataclass
class EntitySpec:
    """How rows of one kind of record map onto the database."""

    key: str
    model: type[models.Model]
    id_column: str
    columns: dict[str, forms.Field]
    required: tuple[str, ...]
    # column -> model field for plain values (id column excluded)
    targets: dict[str, str]
    # column -> (model, lookup field, model field to set) for references by id or name
    refs: dict[str, Ref] = field(default_factory=dict)
    checks: Sequence[Callable[[dict[str, Any]], RowError | None]] = ()
    # turns helper columns into the record's own before the checks (a close date into
    # converted_at or lost_at)
    settle: Callable[[dict[str, Any]], None] | None = None
    derived: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # rows sharing this column's value are one record (an order's lines): in or out together
    group: str | None = None
    # rows refer to each other (a department's parent may come later): written all at once
    whole_file: bool = False
    # the id matches ignoring letter case (department names)
    id_folds_case: bool = False

    @property
    def lookup_field(self) -> str:
        return "sku" if self.model is m.Product else "external_id"


def after(later: str, earlier: str) -> Callable[[dict[str, Any]], RowError | None]:
    def check(row: dict[str, Any]) -> RowError | None:
        a, b = row.get(later), row.get(earlier)
        if a is not None and b is not None and a < b:
            return RowError(0, later, f"is before {earlier}")
        return None

    return check


def not_both(first: str, second: str) -> Callable[[dict[str, Any]], RowError | None]:
    def check(row: dict[str, Any]) -> RowError | None:
        if row.get(first) is not None and row.get(second) is not None:
            return RowError(0, second, f"a lead cannot have both {first} and {second}")
        return None

    return check


DEPARTMENT: Ref = (Department, "name", "department")
CUSTOMER: Ref = (m.Customer, "external_id", "customer")


def _closed(row: dict[str, Any]) -> None:
    """A lead's close date (an export's CloseDate) is when it was won or lost, so it becomes
    converted_at or lost_at by its stage; for an open lead it is only an expected date and
    is dropped. A date without a time is taken as the start of that day (UTC), or as the
    creation time when the lead was made on that same day."""
    closed = row.pop("closed_at", None)
    stage = row.get("stage")
    target = {"won": "converted_at", "lost": "lost_at"}.get(str(stage))
    if closed is None or target is None or row.get(target) is not None:
        return
    moment = datetime.combine(closed, time(), tzinfo=UTC)
    created = row.get("created_at")
    if created is not None and created.astimezone(UTC).date() == closed and moment < created:
        moment = created
    row[target] = moment


def _topics(row: dict[str, Any]) -> dict[str, Any]:
    topics = [t.strip() for t in (row.get("topics") or "").split(";") if t.strip()]
    return {"topics": ";".join(topics), "topic_count": len(topics)}


SPECS: dict[str, EntitySpec] = {
    spec.key: spec
    for spec in [
        EntitySpec(
            key="customers",
            model=m.Customer,
            id_column="customer_id",
            columns={
                "customer_id": text(64, True),
                "full_name": text(200, True),
                "email": forms.EmailField(max_length=254, required=False),
                "phone": text(40),
                "street": text(200),
                "city": text(100),
                "region": text(100),
                "country": text(100),
                "postal_code": text(20),
                "birth_date": day(),
                "segment": text(60),
                "acquisition_channel": text(60),
                "acquired_at": when(),
                "status": choice(m.CustomerStatus),
                "owner": text(64),
                "department": text(120, True),
            },
            required=("customer_id", "full_name", "department"),
            targets={
                c: c
                for c in [
                    "full_name",
                    "email",
                    "phone",
                    "street",
                    "city",
                    "region",
                    "country",
                    "postal_code",
                    "birth_date",
                    "segment",
                    "acquisition_channel",
                    "acquired_at",
                    "status",
                ]
            },
            refs={"owner": (m.Employee, "external_id", "owner"), "department": DEPARTMENT},
        ),
        EntitySpec(
            key="products",
            model=m.Product,
            id_column="sku",
            columns={
                "sku": text(64, True),
                "name": text(200, True),
                "category": text(80, True),
                "tier": choice(m.ProductTier),
                "list_price": money(),
            },
            required=("sku", "name", "category"),
            targets={
                "name": "name",
                "category": "category",
                "tier": "tier",
                "list_price": "list_price",
            },
        ),
        EntitySpec(
            key="orders",
            model=m.OrderLine,
            id_column="order_id",
            columns={
                "order_id": text(64, True),
                "customer_id": text(64, True),
                "ordered_at": when(True),
                "product_sku": text(64),
                "quantity": forms.DecimalField(
                    max_digits=12, decimal_places=3, min_value=0.001, required=False
                ),
                "unit_price": money(),
                "amount": money(True),
                "salesperson": text(64),
                "channel": choice(m.SalesChannel),
            },
            required=("order_id", "customer_id", "ordered_at", "amount"),
            targets={"quantity": "quantity", "unit_price": "unit_price", "amount": "amount"},
            group="order_id",
            refs={
                "customer_id": CUSTOMER,
                "product_sku": (m.Product, "sku", "product"),
                "salesperson": (m.Employee, "external_id", "salesperson"),
            },
        ),
        EntitySpec(
            key="leads",
            model=m.Lead,
            id_column="lead_id",
            columns={
                "lead_id": text(64, True),
                "source": text(60),
                "created_at": when(True),
                "stage": choice(m.LeadStage),
                "converted_at": when(),
                "lost_at": when(),
                "owner": text(64),
                "customer_id": text(64),
                "department": text(120, True),
                "closed_at": day(),
            },
            required=("lead_id", "created_at", "department"),
            targets={c: c for c in ["source", "created_at", "stage", "converted_at", "lost_at"]},
            refs={
                "owner": (m.Employee, "external_id", "owner"),
                "customer_id": CUSTOMER,
                "department": DEPARTMENT,
            },
            checks=[after("converted_at", "created_at"), not_both("converted_at", "lost_at")],
            settle=_closed,
        ),
        EntitySpec(
            key="interactions",
            model=m.Interaction,
            id_column="interaction_id",
            columns={
                "interaction_id": text(64, True),
                "customer_id": text(64, True),
                "agent": text(64),
                "department": text(120, True),
                "channel": choice(m.InteractionChannel, True),
                "direction": choice(m.Direction),
                "started_at": when(True),
                "wait_seconds": whole(0),
                "hold_seconds": whole(0),
                "handle_seconds": whole(0),
                "topics": text(400),
                "resolved_first_contact": YesNo(required=False),
                "note": forms.CharField(required=False),
            },
            required=("interaction_id", "customer_id", "department", "channel", "started_at"),
            targets={
                c: c
                for c in [
                    "channel",
                    "direction",
                    "started_at",
                    "wait_seconds",
                    "hold_seconds",
                    "handle_seconds",
                    "resolved_first_contact",
                    "note",
                ]
            },
            refs={
                "customer_id": CUSTOMER,
                "agent": (m.Employee, "external_id", "agent"),
                "department": DEPARTMENT,
            },
            derived=_topics,
        ),
        EntitySpec(
            key="feedback",
            model=m.Feedback,
            id_column="feedback_id",
            columns={
                "feedback_id": text(64, True),
                "customer_id": text(64, True),
                "submitted_at": when(True),
                "rating": whole(1, 5),
                "recommend": whole(0, 10),
                "comment": forms.CharField(required=False),
                "source": choice(m.FeedbackSource),
            },
            required=("feedback_id", "customer_id", "submitted_at"),
            targets={c: c for c in ["submitted_at", "rating", "recommend", "comment", "source"]},
            refs={"customer_id": CUSTOMER},
        ),
        EntitySpec(
            key="complaints",
            model=m.Complaint,
            id_column="complaint_id",
            columns={
                "complaint_id": text(64, True),
                "customer_id": text(64, True),
                "category": choice(m.ComplaintCategory, True),
                "description": forms.CharField(required=False),
                "opened_at": when(True),
                "resolved_at": when(),
                "status": choice(m.ComplaintStatus),
                "severity": choice(m.Severity),
                "department": text(120, True),
            },
            required=("complaint_id", "customer_id", "category", "opened_at", "department"),
            targets={
                c: c
                for c in [
                    "category",
                    "description",
                    "opened_at",
                    "resolved_at",
                    "status",
                    "severity",
                ]
            },
            refs={"customer_id": CUSTOMER, "department": DEPARTMENT},
            checks=[after("resolved_at", "opened_at")],
        ),
        EntitySpec(
            key="employees",
            model=m.Employee,
            id_column="employee_id",
            columns={
                "employee_id": text(64, True),
                "full_name": text(200, True),
                "department": text(120, True),
                "role": text(80),
                "hired_at": day(True),
                "left_at": day(),
            },
            required=("employee_id", "full_name", "department", "hired_at"),
            targets={
                "full_name": "full_name",
                "role": "role",
                "hired_at": "hired_at",
                "left_at": "left_at",
            },
            refs={"department": DEPARTMENT},
            checks=[after("left_at", "hired_at")],
        ),
        EntitySpec(
            key="departments",
            model=Department,
            id_column="name",
            columns={"name": text(120, True), "parent": text(120)},
            required=("name",),
            targets={"parent": "parent"},
            whole_file=True,
            id_folds_case=True,
        ),
    ]
}

# Defaults for optional columns that are absent or empty, so an update never blanks a
# choice field into an invalid value.
DEFAULTS: dict[str, Any] = {
    "status": None,
    "tier": m.ProductTier.STANDARD,
    "stage": m.LeadStage.NEW,
    "direction": m.Direction.INBOUND,
    "source": None,
    "severity": m.Severity.MEDIUM,
    "quantity": 1,
}


# ---- reading files ------------------------------------------------------------------------------


Rows = Iterator[tuple[int, list[Any]]]


@dataclass
class Table:
    header: list[str]
    # Opens the records afresh on each call, so an import can read them twice.
    rows: Callable[[], Rows]
    total: int | None
    # the header as the file writes it, for messages
    labels: list[str] = field(default_factory=list)


# Workbooks by their first bytes (from standard input there is no file name): zip
# (.xlsx, .xlsm, .ods) and OLE (.xls).
SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods")


def read_table(path: Path, *, data: bytes | None = None) -> Table:
    """Open a CSV or .xlsx file (or `data`, the bytes of one read from standard input,
    named `path`) and return its header and numbered rows."""
    if data is not None:
        if data.startswith(SPREADSHEET_MAGIC):
            return _read_xlsx(path, lambda: io.BytesIO(data))
        return _read_csv(path, lambda: io.BytesIO(data))
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in SPREADSHEETS:
        return _read_xlsx(path, lambda: path)
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(path, lambda: path.open("rb"))
    raise ImportFileError(
        f"{path}: unsupported file type {suffix or '(none)'}; use .csv, .xlsx, .xls or .ods"
    )


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    old = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _read_csv(path: Path, opener: Callable[[], BinaryIO]) -> Table:
    def text() -> TextIO:
        return io.TextIOWrapper(opener(), encoding="utf-8-sig", newline="")

    try:
        with text() as handle:
            sample = handle.read(64 * 1024)
            handle.seek(0)
            total = max(0, sum(1 for _ in handle) - 1)
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not UTF-8 text; save it as CSV UTF-8") from None
    if not sample.strip():
        raise ImportFileError(f"{path}: the file is empty")
    # Only the delimiter is sniffed. From an unquoted header the sniffer also guesses
    # doublequote=False, which keeps the second quote of every "" inside a quoted field;
    # the quoting itself is always the standard one (RFC 4180, as Excel writes it).
    try:
        delimiter = csv.Sniffer().sniff(sample.splitlines()[0], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","

    def records(handle: Any) -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(handle, csv.excel, delimiter=delimiter)
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "field limit" in str(exc):
                    reason = f"a field is longer than {READ_LIMIT:,} characters"
                else:
                    reason = str(exc)
                raise ImportFileError(
                    f"{path.name}: row {start}: {reason}; the file cannot be read past it"
                ) from None
            yield reader.line_num, record

    def rows() -> Rows:
        with text() as handle, _field_limit(READ_LIMIT):
            found = records(handle)
            next(found, None)
            for number, record in found:
                if "".join(record).strip():  # not a blank line
                    yield number, record

    with text() as handle, _field_limit(READ_LIMIT):
        header = next(records(handle), (1, []))[1]
    return Table(
        [normalise_header(h) for h in header], rows, total, [str(h).strip() for h in header]
    )


def _read_xlsx(path: Path, opener: Callable[[], Any]) -> Table:
    """The first sheet of a workbook, read with calamine (Rust; about 15 times faster than
    openpyxl), or openpyxl where python-calamine is not installed."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # an installation from before the dependency
        return _read_xlsx_openpyxl(path, opener)

    def open_sheet() -> Any:
        source = opener()
        try:
            if isinstance(source, Path):
                book = CalamineWorkbook.from_path(str(source))
            else:
                book = CalamineWorkbook.from_filelike(source)
            with book:  # the sheet holds its cells; the file can close
                return book.get_sheet_by_index(0)
        except Exception as exc:  # calamine's own errors, zip and XML ones alike
            raise ImportFileError(f"{path}: not a readable Excel workbook ({exc})") from None

    sheet = open_sheet()
    values = sheet.iter_rows()
    header_row = next(values, None)
    if header_row is None:
        raise ImportFileError(f"{path}: the first sheet is empty")
    total = max(0, sheet.total_height - 1)

    def rows() -> Rows:
        values = open_sheet().iter_rows()
        next(values, None)
        for number, record in enumerate(values, start=2):
            if any(c != "" and str(c).strip() for c in record):
                yield number, list(record)

    labels = [str(h).strip() for h in header_row]
    return Table([normalise_header(h) for h in header_row], rows, total, labels)


def _read_xlsx_openpyxl(path: Path, opener: Callable[[], Any]) -> Table:
    from openpyxl import load_workbook

    def open_sheet() -> tuple[Any, Iterator[tuple[Any, ...]]]:
        try:
            book = load_workbook(opener(), read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ImportFileError(f"{path}: not a readable Excel workbook ({exc})") from None
        return book, book.worksheets[0].iter_rows(values_only=True)

    book, values = open_sheet()
    header_row = next(values, None)
    total = (book.worksheets[0].max_row - 1) if book.worksheets[0].max_row else None
    book.close()
    if header_row is None:
        raise ImportFileError(f"{path}: the first sheet is empty")

    def rows() -> Rows:
        book, values = open_sheet()
        try:
            next(values, None)
            for number, record in enumerate(values, start=2):
                cells = ["" if v is None else v for v in record]
                if any(str(c).strip() for c in cells):
                    yield number, cells
        finally:
            book.close()

    labels = ["" if h is None else str(h).strip() for h in header_row]
    return Table([normalise_header(h) for h in header_row], rows, total, labels)


# ---- the import ---------------------------------------------------------------------------------

# (row number, cells as given by column, or as a list on the fast path, parsed values)
Line = tuple[int, dict[str, Any] | list[Any], dict[str, Any]]
PROGRESS_EVERY = 1000


@dataclass
class Batch:
    """Good rows on their way to the database, held a column at a time: their row numbers,
    their cells as given (for a reject), and per column of ours the parsed values (then,
    once resolved, a reference's database key)."""

    numbers: list[int]
    raws: list[dict[str, Any] | list[Any]]
    columns: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.numbers)

    def column(self, name: str) -> list[Any]:
        """A column's values; None for each row when no row has the column."""
        found = self.columns.get(name)
        return found if found is not None else [None] * len(self.numbers)

    @classmethod
    def of_lines(cls, lines: Sequence[Line]) -> Batch:
        """The rows parsed one at a time (dicts of values), as columns."""
        names = dict.fromkeys(name for _, _, values in lines for name in values)
        return cls(
            [number for number, _, _ in lines],
            [raw for _, raw, _ in lines],
            {name: [values.get(name) for _, _, values in lines] for name in names},
        )

    @classmethod
    def joined(cls, batches: Sequence[Batch]) -> Batch:
        if len(batches) == 1:
            return batches[0]
        names = dict.fromkeys(name for batch in batches for name in batch.columns)
        return cls(
            [number for batch in batches for number in batch.numbers],
            [raw for batch in batches for raw in batch.raws],
            {name: [v for batch in batches for v in batch.column(name)] for name in names},
        )

    def without(self, out: Collection[int]) -> Batch:
        """The batch without the rows at these indices."""
        if not out:
            return self
        keep = [i for i in range(len(self.numbers)) if i not in out]
        return Batch(
            [self.numbers[i] for i in keep],
            [self.raws[i] for i in keep],
            {name: [values[i] for i in keep] for name, values in self.columns.items()},
        )


@dataclass(frozen=True)
class Planned:
    """One of an entity's columns for one file: the form field that reads it, the file
    columns it comes from (none: only a default, or blank), the file's name for them when
    it differs from ours, its value translations and its default."""

    column: str
    field: forms.Field
    positions: tuple[int, ...]
    source: str = ""
    values: Mapping[str, str] | None = None
    default: str | None = None


def _plan(
    spec: EntitySpec, table: Table, mapping: ColumnMapping, name: str
) -> tuple[list[Planned], list[str], dict[str, str], list[str]]:
    """Match the file's columns to the entity's. Returns the plan, the file columns left
    unused, a suggestion for some of those (file column -> ours), and notes."""
    try:
        mapping.check(entity=spec.key, known=list(spec.columns))
        resolved = mapping.resolve(table.header, table.labels)
    except MappingError as exc:
        raise ImportFileError(f"{name}: {exc}") from None
    if mapping.date_format:
        date_format_check(mapping.date_format)
    labels = table.labels or table.header
    plan: list[Planned] = []
    taken: set[int] = set()
    for column, form_field in spec.columns.items():
        if isinstance(form_field, IsoDate | IsoDateTime):
            form_field = form_field.with_format(mapping.date_format)
        source, positions = "", cast(tuple[int, ...], ())
        if column in resolved.chosen:
            chosen, positions = resolved.chosen[column]
            if chosen.columns != (column,):
                source = " + ".join(labels[i] for i in positions)
        elif column in resolved.index and resolved.index[column] not in resolved.used:
            positions = (resolved.index[column],)
        taken.update(positions)
        plan.append(
            Planned(
                column,
                form_field,
                positions,
                source,
                mapping.values.get(column),
                mapping.defaults.get(column),
            )
        )
    missing = [
        p.column
        for p in plan
        if p.column in spec.required and not p.positions and p.default is None
    ]
    unused = [i for i, h in enumerate(table.header) if h and i not in taken]
    if missing:
        found = ", ".join(h for h in labels if h) or "no header"
        hints = []
        for column in missing:
            near = did_you_mean(column, [table.header[i] for i in unused])
            if near:
                hints.append(f'--map "{labels[table.header.index(near)]}={column}"')
            elif spec.refs.get(column, (None,))[0] is Department:
                hints.append(f"--set {column}=NAME (for every row)")
        hint = f" Name the columns: {'; '.join(hints)}." if hints else ""
        raise ImportFileError(
            f"{name}: missing required column(s) {', '.join(missing)} for {spec.key} "
            f"(found: {found}). Is this really a file of {spec.key}?{hint} Other exports "
            f"map their columns with --preset, --mapping FILE.yaml or --map."
        )
    free = [p.column for p in plan if not p.positions]
    suggestions = {}
    for i in unused:
        near = did_you_mean(table.header[i], free)
        if near:
            suggestions[labels[i]] = near
    return plan, [labels[i] for i in unused], suggestions, resolved.unused


def records_import(
    *,
    entity: str,
    path: Path,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int | None], None] | None = None,
    mapping: ColumnMapping | None = None,
    create_departments: bool = False,
    data: bytes | None = None,
    fast: bool = True,
) -> ImportReport:
    """Import one file of `entity` records (`data`: its bytes, read from standard input;
    `path` then only names it). `mapping` says how the file's columns read as ours, with
    defaults for blanks and the date layout; `create_departments` adds a department a row
    names that is not there yet. `fast=False` validates row by row through the form fields
    and writes with the ORM, as imports did before (the benchmark's baseline). Raises ImportFileError when the file is unusable, and
    ImportStopped (carrying the report of what was committed) when it stops part-way."""
    spec = SPECS.get(entity)
    if spec is None:
        raise ImportFileError(f"unknown entity {entity!r}; choose one of {', '.join(SPECS)}")
    table = read_table(path, data=data)
    duplicates = sorted({h for h in table.header if h and table.header.count(h) > 1})
    if duplicates:
        raise ImportFileError(f"{path.name}: column(s) named twice: {', '.join(duplicates)}")
    plan, ignored, suggestions, notes = _plan(spec, table, mapping or ColumnMapping(), path.name)
    report = ImportReport(
        entity=entity,
        dry_run=dry_run,
        header=table.header,
        ignored_columns=ignored,
        suggestions=suggestions,
        notes=notes,
    )
    if on_total:
        on_total(table.total)
    importer = _Importer(spec, table.header, plan, report, dry_run, create_departments, fast)
    # (the row-by-row importer stays as it was: the benchmark's baseline)
    with _collector_paused() if fast else nullcontext():
        return _rows_import(spec, table, importer, report, progress)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the import, as it was after: the import makes
    millions of small lists and tuples (cells, rows, columns) that refcounting frees, and
    the collector would walk them, and all of Django's objects, again and again (a sixth of
    a 200,000-customer import's CPU time, measured). Cycles made meanwhile wait for the
    next collection."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _rows_import(
    spec: EntitySpec,
    table: Table,
    importer: _Importer,
    report: ImportReport,
    progress: Callable[[int], None] | None,
) -> ImportReport:
    """Read the file's rows into the importer, which validates and writes them a batch at
    a time; the report counts what was written."""
    number, count, shown = 1, 0, 0
    try:
        if spec.group:
            importer.find_group_ends(table.rows())
        for count, (number, cells) in enumerate(table.rows(), start=1):
            importer.add(number, cells)
            if progress and count - shown >= PROGRESS_EVERY:
                progress(count - shown)
                shown = count
        importer.finish()
        if progress and count > shown:
            progress(count - shown)
    except ImportFileError as exc:
        importer.flush()  # the whole records read before the row that cannot be read
        exc.report = report
        raise
    except (Exception, KeyboardInterrupt) as exc:
        raise ImportStopped(
            f"the import stopped at row {number} ({type(exc).__name__}: {exc}); "
            "the rows counted below were written",
            report=report,
        ) from exc
    finally:
        report.rejected_rows.sort(key=lambda item: item[0])
        report.errors.sort(key=lambda e: e.row)
    return report


TEXT = forms.CharField()


def _prepare(value: Any, form_field: forms.Field) -> Any:
    """A cell as the form field expects it: text stripped, Excel's dates and whole numbers
    turned into text where the column holds text."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, datetime | date) and not isinstance(
        form_field, forms.DateTimeField | forms.DateField
    ):
        return value.isoformat()
    if isinstance(value, float) and isinstance(form_field, forms.CharField) and value.is_integer():
        return str(int(value))
    return value


# ---- the fast path: whole columns of a batch at once -----------------------------------------
# A converter takes a raw cell and returns the value the column's form field would, or SLOW
# when the cell is anything but plainly good (blank where required, too long, not ISO, an
# unknown choice, not text): that row then goes through the form fields one by one, which
# give the exact reason. So the fast path never accepts what the slow one would refuse, and
# the rules and messages are the slow path's.
SLOW: Any = object()
_EMAIL = EmailValidator
# the part before the @ (it holds no @) and the part after
EMAIL_USER = r"[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*"
EMAIL_DOMAIN = _EMAIL.hostname_re + _EMAIL.domain_re + _EMAIL.tld_no_fqdn_re
EMAIL_FAST = re.compile(EMAIL_USER + "@" + EMAIL_DOMAIN + r"\Z", re.IGNORECASE)
# Whole columns at once, a value a line: every line the part of an address before its @,
# or an ISO date. Possessive: a line that fails fails the column at once, no backtracking.
EMAIL_USERS = re.compile(r"(?:" + EMAIL_USER + r"\n)*+", re.IGNORECASE)
EMAIL_DOMAIN_FAST = re.compile(EMAIL_DOMAIN + r"\Z", re.IGNORECASE)
ISO_DAYS = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}\n)*+")
# A converter's `whole_column`: the values of a whole column of cells at once, exactly what
# the converter gives cell by cell, or None when any cell is not plainly good (the column
# then goes cell by cell).
WholeColumn = Callable[[Sequence[Any]], list[Any] | None]


def _stripped(
    cells: Sequence[Any], longest: int | None = None, *, required: bool = False
) -> list[str] | None:
    """The cells stripped, when every one is text (at most `longest` characters, no NUL,
    none blank if `required`); else None."""
    try:
        column = [cell.strip() for cell in cells]
    except AttributeError:
        return None
    if column and longest is not None and max(map(len, column)) > longest:
        return None
    if "\x00" in "".join(column) or (required and "" in column):
        return None
    return column


def _nonblank(column: list[str]) -> list[str]:
    """The column's cells that are not blank, in order."""
    return [cell for cell in column if cell] if "" in column else column


def _lines(values: list[str]) -> str | None:
    """The values a line each (with the last line's end), or None when one holds a line
    break itself (the lines would not be the values)."""
    text = "\n".join(values)
    return None if text.count("\n") != len(values) - 1 else text + "\n"


def _blanks_back(column: list[str], present: list[Any], blank: Any) -> list[Any]:
    """The values of a column's non-blank cells (`present`, in order), with `blank` put
    back where a cell was blank."""
    if len(present) == len(column):
        return present
    found = iter(present)
    return [next(found) if cell else blank for cell in column]


def _attach(convert: Callable[[Any], Any], whole_column: WholeColumn) -> Callable[[Any], Any]:
    convert.whole_column = whole_column  # type: ignore[attr-defined]
    return convert


def _fast_converter(form_field: forms.Field) -> Callable[[Any], Any]:
    required = form_field.required
    empty: Any
    if isinstance(form_field, forms.EmailField):
        longest = form_field.max_length or 320

        def email(value: Any) -> Any:
            if type(value) is not str:
                return SLOW
            value = value.strip()
            if not value:
                return SLOW if required else ""
            return value if len(value) <= longest and EMAIL_FAST.match(value) else SLOW

        def emails(cells: Sequence[Any]) -> list[Any] | None:
            column = _stripped(cells, longest, required=required)
            if column is None:
                return None
            present = _nonblank(column)
            if not present:
                return column
            # EMAIL_FAST in two halves: the parts before the @ all at once, and each
            # different domain once (a column holds few)
            parts = [value.partition("@") for value in present]
            users = _lines([user for user, _, _ in parts])
            if users is None or not EMAIL_USERS.fullmatch(users):
                return None
            # (a value without an @ has no domain, which the pattern refuses)
            domains = {domain for _, _, domain in parts}
            if not all(EMAIL_DOMAIN_FAST.match(domain) for domain in domains):
                return None
            return column

        return _attach(email, emails)
    if type(form_field) is forms.CharField:
        longest_text = form_field.max_length

        def plain(value: Any) -> Any:
            if type(value) is not str:
                if type(value) is float:  # a number in a spreadsheet's text column
                    value = str(int(value)) if value.is_integer() else str(value)
                elif type(value) is int:
                    value = str(value)
                else:
                    return SLOW
            value = value.strip()
            if not value:
                return SLOW if required else ""
            if (longest_text is not None and len(value) > longest_text) or "\x00" in value:
                return SLOW
            return value

        def texts(cells: Sequence[Any]) -> list[Any] | None:
            return _stripped(cells, longest_text, required=required)

        return _attach(plain, texts)
    if isinstance(form_field, IsoDateTime):
        zone = timezone.get_current_timezone()
        naive_ok = str(zone) == "UTC"

        def moment(value: Any) -> Any:
            if type(value) is not str:
                # a spreadsheet's own date cells
                if type(value) is datetime and value.tzinfo is None and naive_ok:
                    return value.replace(tzinfo=zone)
                if type(value) is date and naive_ok:
                    return datetime(value.year, value.month, value.day, tzinfo=zone)
                return SLOW
            value = value.strip()
            if not value:
                return SLOW if required else None
            try:
                found = datetime.fromisoformat(value)
            except ValueError:
                return SLOW
            if found.tzinfo is None:
                return found.replace(tzinfo=zone) if naive_ok else SLOW
            return found

        def moments(cells: Sequence[Any]) -> list[Any] | None:
            column = _stripped(cells, required=required)
            if column is None:
                return None
            present = _nonblank(column)
            try:
                found = list(map(datetime.fromisoformat, present))
            except ValueError:
                return None
            if naive_ok:
                found = [d.replace(tzinfo=zone) if d.tzinfo is None else d for d in found]
            elif any(d.tzinfo is None for d in found):
                return None
            return _blanks_back(column, found, None)

        return _attach(moment, moments)
    if isinstance(form_field, IsoDate):

        def day_(value: Any) -> Any:
            if type(value) is not str:
                if type(value) is date:
                    return value
                return value.date() if type(value) is datetime else SLOW
            value = value.strip()
            if not value:
                return SLOW if required else None
            if len(value) != 10 or value[4] != "-" or value[7] != "-":
                return SLOW
            try:
                return date.fromisoformat(value)
            except ValueError:
                return SLOW

        def days(cells: Sequence[Any]) -> list[Any] | None:
            column = _stripped(cells, required=required)
            if column is None:
                return None
            present = _nonblank(column)
            text = _lines(present)
            if present and (text is None or not ISO_DAYS.fullmatch(text)):
                return None
            try:
                found = list(map(date.fromisoformat, present))
            except ValueError:  # no such day (2023-02-29)
                return None
            return _blanks_back(column, found, None)

        return _attach(day_, days)
    if isinstance(form_field, ChoiceValue):
        lookup = form_field.lookup
        empty = None

        def pick(value: Any) -> Any:
            if type(value) is not str:
                return SLOW
            value = value.strip()
            if not value:
                return SLOW if required else empty
            return lookup.get(value.lower(), SLOW)

        def picks(cells: Sequence[Any]) -> list[Any] | None:
            column = _stripped(cells)
            if column is None:
                return None
            # each different value once (a column holds a few)
            picked = {
                value: lookup.get(value.lower(), SLOW) if value else (SLOW if required else empty)
                for value in set(column)
            }
            if any(value is SLOW for value in picked.values()):
                return None
            return list(map(picked.__getitem__, column))

        return _attach(pick, picks)

    def other(value: Any) -> Any:
        try:
            return form_field.clean(_prepare(value, form_field))
        except ValidationError:
            return SLOW

    return other


class _Importer:
    def __init__(
        self,
        spec: EntitySpec,
        header: list[str],
        plan: list[Planned],
        report: ImportReport,
        dry_run: bool,
        create_departments: bool = False,
        fast: bool = True,
    ) -> None:
        self.spec = spec
        # rows wait here to be validated a batch at a time, column by column (an order's
        # lines too: a batch's complete orders are then written together)
        self.fast = fast and not spec.whole_file
        self.batch_size = BATCH_SIZE or BATCH_SIZES.get(connection.vendor, DEFAULT_BATCH_SIZE)
        self.unparsed: list[tuple[int, list[Any]]] = []
        self.converters = [_fast_converter(p.field) for p in plan]
        self.header = header
        self.plan = plan
        self.by_column = {p.column: p for p in plan}
        # file column position -> (our column, the file's name for it when different)
        self.owner = {i: (p.column, p.source) for p in plan for i in p.positions}
        self.report = report
        self.dry_run = dry_run
        self.create_departments = create_departments
        self.seen: dict[Any, int] = {}
        self.departments = {d.name.lower(): d.pk for d in Department.objects.all()}
        self.department_names = sorted(d.name for d in Department.objects.all())
        self.new_departments: dict[str, str] = {}  # on a dry run: the ones that would be made
        self.ready: list[Line] = []
        # the good rows of batches validated by column, kept as columns (records that are
        # not orders and that no row-wide rule looks at)
        self.blocks: list[Batch] = []
        # Grouped entities (orders): a group's lines wait until its last row has been read,
        # then go to the database together, in one transaction with whole other groups.
        self.group_end: dict[Any, int] = {}
        self.pending: dict[Any, list[Line]] = {}
        self.group_bad: dict[Any, int] = {}
        # orders: per order id, its line count and header seen so far
        self.order_lines: dict[str, int] = {}
        self.order_heads: dict[str, tuple[int, tuple[Any, ...]]] = {}

    def reject(self, number: int, raw: dict[str, Any] | list[Any], errors: list[RowError]) -> None:
        """Keep the row out, with its reasons. `raw` is the row's cells by column, or (from
        the fast path, which makes that only for rejected rows) its list of cells."""
        if isinstance(raw, list):
            raw = dict(zip(self.header, raw, strict=False))
        self.report.errors.extend(errors)
        self.report.rejected_rows.append((number, raw))

    def error(self, number: int, column: str, reason: str) -> RowError:
        planned = self.by_column.get(column)
        return RowError(number, column, reason, planned.source if planned else "")

    # -- reading rows -------------------------------------------------------------------------
    def value(self, cells: list[Any], planned: Planned) -> Any:
        """The cell (or joined cells) for one of our columns, translated, defaulted."""
        positions = planned.positions
        if len(positions) == 1:
            index = positions[0]
            value = _prepare(cells[index] if index < len(cells) else "", planned.field)
        elif positions:
            parts = [str(_prepare(cells[i], TEXT)) for i in positions if i < len(cells)]
            value = " ".join(p for p in parts if p)
        else:
            value = ""
        if planned.values and isinstance(value, str):
            value = planned.values.get(value.lower(), value)
        if value in (None, "") and planned.default is not None:
            value = _prepare(planned.default, planned.field)
        return value

    def values_of(self, cells: Sequence[Any], planned: Planned) -> Sequence[Any] | None:
        """`value` for a whole column of cells from one file column: the cells, or, when
        the mapping translates the column's values or gives it a default, the cells
        stripped, translated and defaulted; None (then row by row) when a cell is not
        text."""
        if not planned.values and planned.default is None:
            return cells
        try:
            column = [cell.strip() for cell in cells]
        except AttributeError:
            return None
        if planned.values:
            translate = planned.values
            column = [translate.get(value.lower(), value) for value in column]
        if planned.default is not None and "" in column:
            default = _prepare(planned.default, planned.field)
            column = [value if value != "" else default for value in column]
        return column

    def _key(self, cells: list[Any]) -> Any:
        column = self.spec.group
        assert column is not None
        planned = self.by_column[column]
        try:
            return planned.field.clean(self.value(cells, planned)) or None
        except ValidationError:
            return None

    def find_group_ends(self, rows: Iterator[tuple[int, list[Any]]]) -> None:
        """First pass over a grouped file: the last row of each group."""
        for number, cells in rows:
            key = self._key(cells)
            if key:
                self.group_end[key] = number

    def add(self, number: int, cells: list[Any]) -> None:
        if self.fast:
            self.unparsed.append((number, cells))
            if len(self.unparsed) >= self.batch_size:
                self.flush()
            return
        raw = dict(zip(self.header, cells, strict=False))
        self._take(number, cells, raw, self.parse(number, cells, raw))
        if len(self.ready) >= self.batch_size and not self.spec.whole_file:
            self.flush()

    def _take(
        self,
        number: int,
        cells: list[Any],
        raw: dict[str, Any] | list[Any],
        values: dict[str, Any] | None,
    ) -> None:
        """A parsed row (values None: rejected) joins the rows to write; a grouped one
        (an order's line) waits for the rest of its group, which goes in whole or not at all."""
        if self.spec.group is None:
            if values is not None:
                self.ready.append((number, raw, values))
            return
        key = values[self.spec.group] if values is not None else self._key(cells)
        if key is None:
            return  # rejected alone: it names no group
        self.group_end.setdefault(key, number)
        if values is None:
            self.group_bad.setdefault(key, number)
        else:
            self.pending.setdefault(key, []).append((number, raw, values))
        if self.group_end[key] == number:
            self._group_complete(key)

    def _group_complete(self, key: Any) -> None:
        lines = self.pending.pop(key, [])
        bad = self.group_bad.pop(key, None)
        if bad is not None:
            self._reject_group(key, lines, bad)
            return
        self.ready.extend(lines)

    def _reject_group(self, key: Any, lines: list[Line], bad: int) -> None:
        column = self.spec.group or ""
        for number, raw, _ in lines:
            self.reject(
                number,
                raw,
                [
                    RowError(
                        number,
                        column,
                        f"order {key} is not imported: its line on row {bad} is rejected",
                    )
                ],
            )

    def finish(self) -> None:
        if self.unparsed:
            self._parse_batch()
        for key in list(self.pending) + list(self.group_bad):
            if key in self.pending or key in self.group_bad:
                self._group_complete(key)
        self.flush()

    def flush(self) -> None:
        if self.unparsed:
            self._parse_batch()
        lines, self.ready = self.ready, []
        blocks, self.blocks = self.blocks, []
        if self.spec.key in ("orders", "departments"):
            if lines:
                self.write(lines)
            return
        if lines:
            blocks.append(Batch.of_lines(lines))
        if blocks:
            self.write(Batch.joined(blocks))

    def _parse_batch(self) -> None:
        """Validate the waiting rows column by column; a row with any cell the fast
        converters do not plainly accept is parsed alone, as the slow path does."""
        rows, self.unparsed = self.unparsed, []
        width = len(self.header)
        plain: list[int] = []
        for index, (_, cells) in enumerate(rows):
            if len(cells) != width:
                continue
            try:
                too_long = len("".join(cells)) > MAX_CELL_CHARS
            except TypeError:
                too_long = any(isinstance(c, str) and len(c) > MAX_CELL_CHARS for c in cells)
            if not too_long:
                plain.append(index)
        batch = [rows[i][1] for i in plain]
        # the file's columns (every row of `batch` has the header's width)
        by_position = list(zip(*batch, strict=True)) if batch else [() for _ in self.header]
        slow = [False] * len(batch)
        columns = []
        for planned, convert in zip(self.plan, self.converters, strict=True):
            cells_of_column = (
                self.values_of(by_position[planned.positions[0]], planned)
                if len(planned.positions) == 1
                else None
            )
            if cells_of_column is not None:
                whole_column = getattr(convert, "whole_column", None)
                found = whole_column(cells_of_column) if whole_column else None
                if found is not None:
                    columns.append(found)
                    continue
                converted = list(map(convert, cells_of_column))
            elif not planned.positions:  # not in the file: its default, or blank, in every row
                converted = [convert(self.value([], planned))] * len(batch)
            else:
                converted = [convert(self.value(cells, planned)) for cells in batch]
            if SLOW in converted:
                for k, value in enumerate(converted):
                    if value is SLOW:
                        slow[k] = True
            columns.append(converted)
        names = [p.column for p in self.plan]
        fast_at = {index: k for k, index in enumerate(plain) if not slow[k]}
        if not (self.spec.settle or self.spec.checks or self.spec.group or self.spec.id_folds_case):
            self._gather(rows, fast_at, names, columns)
            return
        parsed = list(zip(*columns, strict=True)) if columns else [() for _ in batch]
        for index, (number, cells) in enumerate(rows):
            row_at = fast_at.get(index)
            if row_at is None:
                raw = dict(zip(self.header, cells, strict=False))
                self._take(number, cells, raw, self.parse(number, cells, raw))
                continue
            values = dict(zip(names, parsed[row_at], strict=True))
            # the row-wide rules (an order line's agreement with its order, its number);
            # the cells stay a list: a rejected row is made a dict by reject()
            self._take(number, cells, cells, self._settled(number, cells, values, []))

    def _gather(
        self,
        rows: list[tuple[int, list[Any]]],
        fast_at: dict[int, int],
        names: list[str],
        columns: list[list[Any]],
    ) -> None:
        """Keep a batch's good rows as columns, for records no row-wide rule looks at but
        the same id twice: `columns` holds the values of the rows the converters took
        (`fast_at`: row index -> their index there); the others are parsed alone, and the
        rows keep the file's order, so the first of two rows with one id is the one in."""
        seen = self.seen
        ids = columns[names.index(self.spec.id_column)] if columns else []
        numbers = [number for number, _ in rows]
        if len(fast_at) == len(rows) and len(set(ids)) == len(ids) and seen.keys().isdisjoint(ids):
            # the usual batch: every row taken, every id new
            seen.update(zip(ids, numbers, strict=True))
            raws: list[dict[str, Any] | list[Any]] = [cells for _, cells in rows]
            self.blocks.append(Batch(numbers, raws, dict(zip(names, columns, strict=True))))
            return
        kept: list[int] = []
        raws = []
        # per row kept: its index in `columns`, or its values when parsed alone
        entries: list[int | dict[str, Any]] = []
        for index, (number, cells) in enumerate(rows):
            at = fast_at.get(index)
            entry: int | dict[str, Any] | None
            raw: dict[str, Any] | list[Any] = cells
            if at is not None and ids[at] not in seen:
                seen[ids[at]] = number
                entry = at
            elif at is not None:  # the same id again: rejected as the row by row path does
                values = {name: column[at] for name, column in zip(names, columns, strict=True)}
                entry = self._settled(number, cells, values, [])
            else:
                raw = dict(zip(self.header, cells, strict=False))
                entry = self.parse(number, cells, raw)
            if entry is not None:
                kept.append(number)
                raws.append(raw)
                entries.append(entry)
        by_name = {}
        for name, column in zip(names, columns, strict=True):
            by_name[name] = [
                column[e] if type(e) is int else cast(dict[str, Any], e).get(name) for e in entries
            ]
        self.blocks.append(Batch(kept, raws, by_name))

    def parse(self, number: int, cells: list[Any], raw: dict[str, Any]) -> dict[str, Any] | None:
        errors: list[RowError] = []
        if len(cells) > len(self.header) and any(str(c).strip() for c in cells[len(self.header) :]):
            errors.append(
                RowError(
                    number, "", f"has {len(cells)} values but the header has {len(self.header)}"
                )
            )
        too_long = set()
        for index, cell in enumerate(cells):
            if isinstance(cell, str) and len(cell) > MAX_CELL_CHARS:
                too_long.add(index)
                column, source = self.owner.get(index) or (
                    self.header[index]
                    if index < len(self.header) and self.header[index]
                    else f"#{index + 1}",
                    "",
                )
                errors.append(
                    RowError(
                        number,
                        column,
                        f"is longer than {MAX_CELL_CHARS:,} characters (it has {len(cell):,})",
                        source,
                    )
                )
        values: dict[str, Any] = {}
        for planned in self.plan:
            if too_long.intersection(planned.positions):
                continue
            value = self.value(cells, planned)
            if isinstance(value, str) and "\x00" in value:
                errors.append(
                    self.error(
                        number,
                        planned.column,
                        "contains a NUL character (\\x00), which cannot be stored",
                    )
                )
                continue
            try:
                values[planned.column] = planned.field.clean(value)
            except ValidationError as exc:
                errors.append(self.error(number, planned.column, " ".join(exc.messages)))
        return self._settled(number, raw, values, errors)

    def _settled(
        self,
        number: int,
        raw: dict[str, Any] | list[Any],
        values: dict[str, Any],
        errors: list[RowError],
    ) -> dict[str, Any] | None:
        """The row-wide rules on a row's parsed values: helper columns, cross-column checks,
        the same id twice. Returns the values, or None when the row is rejected."""
        if not errors and self.spec.settle:
            self.spec.settle(values)
        for check in self.spec.checks:
            problem = check(values)
            if problem:
                errors.append(self.error(number, problem.column, problem.reason))
        if not errors:
            key = values[self.spec.id_column]
            if self.spec.id_folds_case:
                key = key.lower()
            if self.spec.key == "orders":
                errors.extend(self._order_line(number, values))
            elif key in self.seen:
                errors.append(
                    self.error(
                        number,
                        self.spec.id_column,
                        f"{values[self.spec.id_column]} appears again (first on row {self.seen[key]})",
                    )
                )
            else:
                self.seen[key] = number
        if errors:
            self.reject(number, raw, errors)
            return None
        return values

    def _order_line(self, number: int, values: dict[str, Any]) -> list[RowError]:
        order_id = values["order_id"]
        head = (
            values["customer_id"],
            values["ordered_at"],
            values.get("salesperson"),
            values.get("channel"),
        )
        first = self.order_heads.get(order_id)
        if first and first[1] != head:
            return [
                self.error(
                    number,
                    "customer_id",
                    f"order {order_id} has a different customer, date, "
                    f"salesperson or channel on row {first[0]}",
                )
            ]
        if not first:
            self.order_heads[order_id] = (number, head)
        line_no = self.order_lines.get(order_id, 0) + 1
        self.order_lines[order_id] = line_no
        values["line_no"] = line_no
        return []

    # -- resolving references and writing ---------------------------------------------------------
    def resolve(self, lines: list[Line]) -> tuple[list[Line], list[Line]]:
        """`resolve_batch` for rows parsed one at a time (an order's lines): the good rows
        and the rejected ones, their references' database keys in their values."""
        batch = Batch.of_lines(lines)
        bad = self.resolve_batch(batch)
        good: list[Line] = []
        out: list[Line] = []
        for index, line in enumerate(lines):
            for column in self.spec.refs:
                line[2][column] = batch.columns[column][index]
            (out if index in bad else good).append(line)
        return good, out

    def resolve_batch(self, batch: Batch) -> set[int]:
        """Turn ids and names into database keys, a column at a time, in the batch's own
        columns; reject the rows whose references do not exist. A row names none where its
        cell is blank. Returns the indices of the rejected rows."""
        errors: dict[int, list[RowError]] = {}
        for column, (model, lookup, _) in self.spec.refs.items():
            given = batch.column(column)
            if model is Department:
                # last of a record's references: a department is only made for a row
                # with no other error
                batch.columns[column] = self._departments_of(batch, column, given, errors)
                continue
            wanted = {value for value in given if value}
            found: dict[Any, int] = (
                dict(
                    model._default_manager.filter(**{f"{lookup}__in": wanted}).values_list(
                        lookup, "pk"
                    )
                )
                if wanted
                else {}
            )
            batch.columns[column] = [found.get(value) if value else None for value in given]
            if len(found) == len(wanted):
                continue
            label = model._meta.verbose_name
            for index, value in enumerate(given):
                if value and value not in found:
                    errors.setdefault(index, []).append(
                        self.error(
                            batch.numbers[index],
                            column,
                            f"no {label} with {lookup.replace('external_', '')} {value!r}",
                        )
                    )
        for index in sorted(errors):
            self.reject(batch.numbers[index], batch.raws[index], errors[index])
        return set(errors)

    def _departments_of(
        self, batch: Batch, column: str, given: list[Any], errors: dict[int, list[RowError]]
    ) -> list[int | None]:
        """The departments' keys for a column of names (`_department`'s rules row by row,
        or at once when every name is known)."""
        names = {name for name in given if name}
        known = {name: self.departments.get(name.lower()) for name in names}
        if None not in known.values():
            return [known[name] if name else None for name in given]
        keys: list[int | None] = []
        for index, name in enumerate(given):
            if not name:
                keys.append(None)
                continue
            pk, problem = self._department(name, make=index not in errors)
            if problem:
                errors.setdefault(index, []).append(
                    self.error(batch.numbers[index], column, problem)
                )
            keys.append(pk)
        return keys

    def _department(self, name: str, *, make: bool) -> tuple[int | None, str | None]:
        """The department a row names, by name in any letter case: (its key, None), or
        (None, why not). With --create-departments a new name is made a department at the
        top of the tree (on a dry run only counted) when the row is otherwise good."""
        key = name.lower()
        if key in self.departments:
            return self.departments[key], None
        if key in self.new_departments:
            return None, None
        if self.create_departments:
            if not make:
                return None, None
            if self.dry_run:
                self.new_departments[key] = name
                self.report.created_departments.append(name)
                return None, None
            try:
                made = department_create(name=name)
            except ValidationError as exc:
                return None, f"cannot create department {name!r}: {' '.join(exc.messages)}"
            self.departments[key] = made.pk
            self.report.created_departments.append(made.name)
            return made.pk, None
        return None, f"no department with name {name!r} ({self._known_departments()})"

    def _known_departments(self) -> str:
        names = self.department_names
        if not names:
            return (
                "there are no departments yet: add them with --create-departments, "
                "`import departments` or `departments add`"
            )
        shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
        return f"known: {shown}; or add it with --create-departments"

    @cached_property
    def field_plan(self) -> list[tuple[str, str, bool, Any, bool]]:
        """Per plain column: (column, model field, has a default, the default, holds text)."""
        return [
            (column, target, column in DEFAULTS, DEFAULTS.get(column), target in self.text_targets)
            for column, target in self.spec.targets.items()
        ]

    def records_of(self, batch: Batch, *, with_id: bool = True) -> Sequence[Mapping[str, Any]]:
        """The records of a batch's rows (references resolved), built a column at a time:
        keyed by model attname, the id first (`with_id`), a blank choice as the model's
        default, a blank text as "" (never null). The one place that maps a row's values
        onto its record, on every path."""
        model = self.spec.model
        columns = {self.spec.lookup_field: batch.column(self.spec.id_column)} if with_id else {}
        for column, target, has_default, default, is_text in self.field_plan:
            cells = batch.column(column)
            if has_default and default is None:
                make = cast("models.Field[Any, Any]", model._meta.get_field(target)).get_default
                if None in cells or "" in cells:
                    cells = [make() if cell is None or cell == "" else cell for cell in cells]
            elif has_default:
                if None in cells or "" in cells:
                    cells = [default if cell is None or cell == "" else cell for cell in cells]
            elif is_text and None in cells:
                cells = ["" if cell is None else cell for cell in cells]
            columns[target] = cells
        for column, (_, _, target) in self.spec.refs.items():
            if self.spec.key == "orders" and column != "product_sku":
                continue
            columns[f"{target}_id"] = batch.column(column)
        if not self.spec.derived:
            return Columns(columns)
        records = [
            dict(zip(columns, cells, strict=True)) for cells in zip(*columns.values(), strict=True)
        ]
        names = list(batch.columns)
        for record, row in zip(records, zip(*batch.columns.values(), strict=True), strict=True):
            record.update(self.spec.derived(dict(zip(names, row, strict=True))))
        return records

    @cached_property
    def text_targets(self) -> set[str]:
        """The model fields that hold text (blank, never null, when a cell is empty)."""
        return {
            target
            for target in self.spec.targets.values()
            if isinstance(
                self.spec.model._meta.get_field(target), models.CharField | models.TextField
            )
        }

    def write(self, batch: Batch | list[Line]) -> None:
        """Write good rows: records as a batch of columns; an order's lines and departments
        as rows parsed one at a time."""
        if isinstance(batch, Batch):
            self._write_records(batch)
        elif self.spec.key == "orders":
            self._write_orders(batch)
        else:
            self._write_departments(batch)

    def _write_records(self, batch: Batch) -> None:
        batch = batch.without(self.resolve_batch(batch))
        if not batch:
            return
        model, lookup = self.spec.model, self.spec.lookup_field
        records = self.records_of(batch)
        if self.fast and not self.dry_run:
            existed = self._upsert_at_once(records)
            if existed is not None:
                self.report.imported += len(batch) - existed
                self.report.updated += existed
                return
        keys = batch.column(self.spec.id_column)
        existing = set(
            model._default_manager.filter(**{f"{lookup}__in": keys}).values_list(lookup, flat=True)
        )
        rows = [
            (number, raw, model(**record))
            for number, raw, record in zip(batch.numbers, batch.raws, records, strict=True)
        ]
        written = self._upsert(model, rows, [lookup])
        for number, _, obj in rows:
            if number in written:
                if getattr(obj, lookup) in existing:
                    self.report.updated += 1
                else:
                    self.report.imported += 1

    def _upsert_at_once(self, records: Sequence[Mapping[str, Any]]) -> int | None:
        """Write a batch's records with one upsert and return how many of them were there
        before; None when the database refuses any of it (nothing of it is then written,
        and the caller finds the guilty rows one by one)."""
        model, lookup = self.spec.model, self.spec.lookup_field
        try:
            with foreign_keys_off(), transaction.atomic():
                tables_touch(model)
                return records_upsert(model, lookup, records)
        except (IntegrityError, DatabaseError):
            return None

    def _write_orders(self, batch: list[Line]) -> None:
        """Write whole orders: a line refused, here or by the database, keeps its whole order
        out, so an order is never half in (and its rejects re-import as whole orders)."""
        batch, bad = self.resolve(batch)
        refused = {values["order_id"]: number for number, _, values in bad}
        groups: dict[str, list[Line]] = {}
        for line in batch:
            groups.setdefault(line[2]["order_id"], []).append(line)
        for key, first_bad in sorted(refused.items()):
            self._reject_group(key, groups.pop(key, []), first_bad)
        if not groups:
            return
        outcome: list[bool] = []
        try:
            with transaction.atomic():
                outcome = self._orders_upsert([line for lines in groups.values() for line in lines])
        except (IntegrityError, DatabaseError):
            for key, lines in groups.items():
                try:
                    with transaction.atomic():
                        outcome += self._orders_upsert(lines)
                except (IntegrityError, DatabaseError) as exc:
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    for number, raw, _ in lines:
                        self.reject(
                            number,
                            raw,
                            [
                                RowError(
                                    number, "", f"order {key} refused by the database: {reason}"
                                )
                            ],
                        )
        for was_there in outcome:
            if was_there:
                self.report.updated += 1
            else:
                self.report.imported += 1

    def _orders_upsert(self, batch: list[Line]) -> list[bool]:
        """Write the orders and lines of `batch` (call inside a transaction); for each line,
        whether it was there before."""
        if self.fast:
            return self._orders_upsert_at_once(batch)
        heads: dict[str, m.Order] = {}
        for _, _, values in batch:
            heads.setdefault(
                values["order_id"],
                m.Order(
                    external_id=values["order_id"],
                    customer_id=values["customer_id"],
                    ordered_at=values["ordered_at"],
                    salesperson_id=values.get("salesperson"),
                    channel=values.get("channel") or "",
                ),
            )
        if not self.dry_run:
            tables_touch(m.Order, m.OrderLine)
            m.Order.objects.bulk_create(
                list(heads.values()),
                update_conflicts=True,
                unique_fields=["external_id"],
                update_fields=["customer", "ordered_at", "salesperson", "channel"],
            )
        order_pks = dict(
            m.Order.objects.filter(external_id__in=heads).values_list("external_id", "pk")
        )
        existing = set(
            m.OrderLine.objects.filter(order_id__in=order_pks.values()).values_list(
                "order_id", "line_no"
            )
        )
        records = self.records_of(Batch.of_lines(batch), with_id=False)
        lines = [
            # On a dry run a new order has no key yet; a stand-in keeps validation going.
            m.OrderLine(
                order_id=order_pks.get(values["order_id"], -number),
                line_no=values["line_no"],
                **record,
            )
            for (number, _, values), record in zip(batch, records, strict=True)
        ]
        if not self.dry_run:
            m.OrderLine.objects.bulk_create(
                lines,
                update_conflicts=True,
                unique_fields=["order", "line_no"],
                update_fields=self._update_fields(m.OrderLine, ["order", "line_no"]),
            )
        return [(line.order_id, line.line_no) in existing for line in lines]

    def _orders_upsert_at_once(self, batch: list[Line]) -> list[bool]:
        """The orders of `batch` with one upsert and their lines with another (COPY and
        INSERT ... ON CONFLICT on PostgreSQL), in the caller's transaction: either all of
        the batch is written or, when the database refuses any of it, none."""
        heads: dict[str, dict[str, Any]] = {}
        for _, _, values in batch:
            if values["order_id"] not in heads:
                heads[values["order_id"]] = {
                    "external_id": values["order_id"],
                    "customer_id": values["customer_id"],
                    "ordered_at": values["ordered_at"],
                    "salesperson_id": values.get("salesperson"),
                    "channel": values.get("channel") or "",
                }
        if not self.dry_run:
            tables_touch(m.Order, m.OrderLine)
            records_upsert(m.Order, "external_id", list(heads.values()))
        order_pks = dict(
            m.Order.objects.filter(external_id__in=heads).values_list("external_id", "pk")
        )
        existing = set(
            m.OrderLine.objects.filter(order_id__in=order_pks.values()).values_list(
                "order_id", "line_no"
            )
        )
        records = self.records_of(Batch.of_lines(batch), with_id=False)
        assert isinstance(records, Columns)
        # On a dry run a new order has no key yet; a stand-in keeps validation going.
        keys = [order_pks.get(values["order_id"], -number) for number, _, values in batch]
        numbers = [values["line_no"] for _, _, values in batch]
        lines = Columns({"order_id": keys, "line_no": numbers, **records.columns})
        lines.columns["quantity"] = [
            q if isinstance(q, Decimal) else Decimal(q) for q in lines.columns["quantity"]
        ]
        if not self.dry_run:
            records_upsert(m.OrderLine, ("order_id", "line_no"), lines)
        return [key in existing for key in zip(keys, numbers, strict=True)]

    def _write_departments(self, batch: list[Line]) -> None:
        """The whole file at once: parents may come later in it."""
        result = departments_import(
            parents={values["name"]: values.get("parent") or None for _, _, values in batch},
            dry_run=self.dry_run,
        )
        rows = {values["name"].lower(): (number, raw) for number, raw, values in batch}
        for name, reason in result.refused.items():
            number, raw = rows[name.lower()]
            self.reject(number, raw, [RowError(number, "parent", reason)])
        self.report.imported += len(result.created)
        self.report.updated += len(result.updated)

    @staticmethod
    def _update_fields(model: type[models.Model], unique: list[str]) -> list[str]:
        return [
            f.name
            for f in model._meta.concrete_fields
            if not f.primary_key and f.name not in unique
        ]

    def _upsert(
        self,
        model: type[models.Model],
        rows: Sequence[tuple[int, dict[str, Any] | list[Any], models.Model]],
        unique: list[str],
    ) -> set[int]:
        """Write the rows; if the database refuses the batch, find and reject the guilty rows
        one by one so the others still go in. Returns the row numbers written."""
        if self.dry_run:
            return {number for number, _, _ in rows}
        update = self._update_fields(model, unique)
        objects = [obj for _, _, obj in rows]
        try:
            with transaction.atomic():
                tables_touch(model)
                model._default_manager.bulk_create(
                    objects, update_conflicts=True, unique_fields=unique, update_fields=update
                )
            return {number for number, _, _ in rows}
        except (IntegrityError, DatabaseError):
            pass
        written = set()
        for number, raw, obj in rows:
            try:
                with transaction.atomic():
                    tables_touch(model)
                    model._default_manager.bulk_create(
                        [obj], update_conflicts=True, unique_fields=unique, update_fields=update
                    )
                written.add(number)
            except (IntegrityError, DatabaseError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.reject(
                    number, raw, [RowError(number, "", f"refused by the database: {reason}")]
                )
        return written


# Spreadsheets run a cell that starts with one of these as a formula (CSV injection); the
# rejects file is meant to be opened in one, so such cells are written with a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def rejects_write(*, report: ImportReport, header: Sequence[str], path: Path) -> None:
    """Write the rejected rows, as given, with their row number and reasons, to a CSV file.
    A cell a spreadsheet would run as a formula starts with ' there."""
    reasons: dict[int, list[RowError]] = {}
    for error in report.errors:
        reasons.setdefault(error.row, []).append(error)
    columns = [h for h in header if h]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([_inert(c) for c in ["row", *columns, "error_columns", "errors"]])
        for number, raw in report.rejected_rows:
            errors = reasons.get(number, [])
            cells = [
                number,
                *[_cell(raw.get(c, "")) for c in columns],
                "; ".join(e.column for e in errors if e.column),
                "; ".join(f"{e.column}: {e.reason}" if e.column else e.reason for e in errors),
            ]
            writer.writerow([_inert(c) for c in cells])


def _inert(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return (
            timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
        )
    return value
