"""How the columns of someone else's export become the columns an import knows.

A mapping says, for a file made by another system, which of its columns fills which of
ours (`Name` → `full_name`; `First Name + Last Name` → `full_name` joins two), how some of
its values read in our terms (HubSpot's lifecycle stage `Marketing Qualified Lead` is our
status `lead`), which value fills a column the file leaves blank (`department=Sales`), and
in which layout its dates are written when that is not ISO 8601. It comes from a built-in
preset for a known CRM's export, a YAML mapping file, and the command line, in that order,
each later one overriding the earlier."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRESETS_DIR = Path(__file__).with_name("import_presets")


class MappingError(Exception):
    """A mapping, preset or --set/--map option that cannot be used, said in words."""


def normalise_header(name: Any) -> str:
    """A column name as imports compare them: case, surrounding spaces, inner spaces and
    dashes do not matter (`Customer ID` = `customer_id`)."""
    return str(name or "").strip().lower().replace(" ", "_").replace("-", "_")


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """The known name closest to `name`: one containing it or contained in it (`phone` in
    `phone_number`), else the nearest spelling; None when nothing is close."""
    options = [c for c in choices if c]
    key = normalise_header(name)
    contained = [c for c in options if len(c) >= 4 and (c in key or key in c)]
    if contained:
        return max(contained, key=len)
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.75)
    return close[0] if close else None


@dataclass(frozen=True)
class Source:
    """Where one of our columns comes from: one file column, or several joined by a space."""

    label: str  # as written in the mapping (`First Name + Last Name`)
    columns: tuple[str, ...]  # the file columns, normalised

    @classmethod
    def parse(cls, text: str) -> Source:
        parts = tuple(normalise_header(p) for p in str(text).split("+"))
        if not all(parts):
            raise MappingError(f"{text!r} is not a column name (nor `A + B`)")
        return cls(label=str(text).strip(), columns=parts)


@dataclass
class ColumnMapping:
    """A file's columns in our terms. `columns` lists (source, our column) in order of
    preference: for one of our columns, the first source the file has is used."""

    columns: list[tuple[Source, str]] = field(default_factory=list)
    # our column -> {a value as the other system writes it, lower case: our value}
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    # our column -> the value for a row that leaves it blank (or a file without it)
    defaults: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    entity: str | None = None
    entity_from: str = ""  # which preset or file said the entity
    origin: list[str] = field(default_factory=list)
    # sources given on the command line: the file must have them (a typo is an error)
    must_exist: list[Source] = field(default_factory=list)

    def extend(self, other: ColumnMapping) -> None:
        """Add `other` on top of this mapping: its sources come first, its values, defaults
        and date layout replace these."""
        if other.entity and self.entity and other.entity != self.entity:
            raise MappingError(
                f"{other.entity_from} is for {other.entity}, "
                f"but {self.entity_from} is for {self.entity}"
            )
        if other.entity:
            self.entity, self.entity_from = other.entity, other.entity_from
        self.columns = other.columns + self.columns
        for column, table in other.values.items():
            self.values.setdefault(column, {}).update(table)
        self.defaults.update(other.defaults)
        self.date_format = other.date_format or self.date_format
        self.origin += other.origin
        self.must_exist += other.must_exist

    def check(self, *, entity: str, known: Sequence[str]) -> None:
        """Refuse a mapping for another entity, or naming a column `entity` does not have."""
        if self.entity and self.entity != entity:
            raise MappingError(
                f"{self.entity_from} is for {self.entity}, not {entity}: "
                f"run `import {self.entity} ...`"
            )
        named = [(t, f"--map/mapping {s.label}={t}") for s, t in self.columns]
        named += [(t, f"--set {t}=...") for t in self.defaults]
        named += [(t, f"values for {t}") for t in self.values]
        for target, where in named:
            if target not in known:
                hint = did_you_mean(target, known)
                raise MappingError(
                    f"{where}: {entity} have no column {target!r}"
                    + (f" (did you mean {hint}?)" if hint else "")
                    + f"; their columns are {', '.join(known)}"
                )

    def resolve(self, header: Sequence[str], labels: Sequence[str]) -> Resolved:
        """Which file columns fill which of ours, for a file with this (normalised) header.
        A source given on the command line must be in the file."""
        index = {name: i for i, name in reversed(list(enumerate(header))) if name}
        for source in self.must_exist:
            for column in source.columns:
                if column not in index:
                    hint = did_you_mean(column, index)
                    shown = labels[index[hint]] if hint else None
                    raise MappingError(
                        f"--map {source.label}=...: the file has no column {column!r}"
                        + (f" (did you mean {shown!r}?)" if shown else "")
                    )
        chosen: dict[str, tuple[Source, tuple[int, ...]]] = {}
        unused: list[str] = []
        for source, target in self.columns:
            if not all(c in index for c in source.columns):
                continue
            if target in chosen:
                unused.append(
                    f"{source.label} is not used: {target} comes from {chosen[target][0].label}"
                )
                continue
            chosen[target] = (source, tuple(index[c] for c in source.columns))
        used = {i for _, positions in chosen.values() for i in positions}
        return Resolved(chosen=chosen, index=index, used=used, unused=unused)


@dataclass
class Resolved:
    chosen: dict[str, tuple[Source, tuple[int, ...]]]
    index: dict[str, int]
    used: set[int]
    unused: list[str]


# ---- where mappings come from --------------------------------------------------------------


def presets() -> dict[str, Path]:
    """The built-in presets by name (the file name without .yaml)."""
    return {p.stem: p for p in sorted(PRESETS_DIR.glob("*.yaml"))}


def preset_load(name: str) -> ColumnMapping:
    found = presets()
    if name not in found:
        hint = did_you_mean(name, found)
        raise MappingError(
            f"no preset {name!r}"
            + (f" (did you mean {hint}?)" if hint else "")
            + f"; presets: {', '.join(found)}"
        )
    return mapping_read(found[name], origin=f"preset {name}")


def mapping_read(path: Path, *, origin: str | None = None) -> ColumnMapping:
    """Read a mapping file (YAML): `entity`, `columns` (file column: our column, in order
    of preference), `values` (our column: {their value: ours}), `set` (our column: value
    for blanks) and `date_format` (a strftime layout such as `%d/%m/%Y`)."""
    where = origin or f"mapping file {path}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MappingError(f"{where}: not valid YAML ({exc})") from None
    return mapping_from(data, origin=where)


def mapping_from(data: Any, *, origin: str) -> ColumnMapping:
    if not isinstance(data, Mapping):
        raise MappingError(f"{origin}: expected keys entity, columns, values, set, date_format")
    unknown = sorted(set(data) - {"entity", "columns", "values", "set", "date_format", "source"})
    if unknown:
        raise MappingError(f"{origin}: unknown key(s) {', '.join(map(str, unknown))}")
    columns = _pairs(data.get("columns") or {}, origin, "columns")
    values: dict[str, dict[str, str]] = {}
    for target, table in _pairs(data.get("values") or {}, origin, "values", nested=True):
        values[normalise_header(target)] = {
            str(k).strip().lower(): "" if v is None else str(v) for k, v in table.items()
        }
    defaults = {
        normalise_header(k): "" if v is None else str(v)
        for k, v in _pairs(data.get("set") or {}, origin, "set")
    }
    date_format = data.get("date_format")
    if date_format is not None and not isinstance(date_format, str):
        raise MappingError(f"{origin}: date_format must be text such as '%d/%m/%Y'")
    entity = data.get("entity")
    return ColumnMapping(
        columns=[(Source.parse(str(s)), normalise_header(t)) for s, t in columns],
        values=values,
        defaults=defaults,
        date_format=date_format,
        entity=str(entity) if entity else None,
        entity_from=origin,
        origin=[origin],
    )


def _pairs(data: Any, origin: str, key: str, nested: bool = False) -> list[tuple[Any, Any]]:
    if not isinstance(data, Mapping):
        raise MappingError(f"{origin}: {key} must be a mapping of names")
    pairs = list(data.items())
    for name, value in pairs:
        if nested and not isinstance(value, Mapping):
            raise MappingError(f"{origin}: {key}.{name} must be a mapping of values")
        if not nested and isinstance(value, Mapping | list):
            raise MappingError(f"{origin}: {key}.{name} must be a single name or value")
    return pairs


def mapping_from_options(
    *, maps: Sequence[str] = (), sets: Sequence[str] = (), date_format: str | None = None
) -> ColumnMapping:
    """The mapping given on the command line: `--map "File column=our_column"` (repeatable;
    `A + B=our_column` joins two columns) and `--set our_column=value`."""
    columns = []
    for text in maps:
        source, sep, target = text.rpartition("=")
        if not sep or not source.strip() or not target.strip():
            raise MappingError(f'--map {text!r}: write it as "File column=our_column"')
        columns.append((Source.parse(source), normalise_header(target)))
    defaults = {}
    for text in sets:
        target, sep, value = text.partition("=")
        if not sep or not target.strip():
            raise MappingError(f"--set {text!r}: write it as column=value")
        defaults[normalise_header(target)] = value.strip()
    return ColumnMapping(
        columns=columns,
        defaults=defaults,
        date_format=date_format,
        origin=["the command line"] if (maps or sets or date_format) else [],
        must_exist=[source for source, _ in columns],
    )
