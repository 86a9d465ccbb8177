"""The SQL text DuckDB's queries were compiled to, kept beside a version of the columnar
mirror, so the next run over the same version compiles nothing it compiled before.

Compiling an Ibis expression to SQL took 10-20 ms a query (the whole catalogue: about
0.5 s of 3 s at 200,000 customers). The text depends on the expression alone, so it is
kept under a digest of the expression's structure that is the same in every process: each
operation's class and arguments, literals by value, tables by name and schema (a work
table by the digest of the expression it was computed from, as its own name changes from
run to run), never Python's hash(). Kept per mirror version: a version's files never
change, and the file goes with the version when the mirror drops it."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dtypes
import ibis.expr.operations as ops
import ibis.expr.schema as sch
import sqlglot
from ibis.common.graph import Node

FILE = "compiled-sql.json"
# Texts kept per version at most (the catalogue: about 50, some 2-5 kB each); past that a
# version's texts stop growing (a request filtering by ever new values compiles its own).
MOST = 2000
# The same expression compiles to other text under another Ibis or sqlglot.
SALT = f"ibis {ibis.__version__}; sqlglot {sqlglot.__version__}; 1"
# Python values a literal or an argument may hold, digested by type and repr.
_PLAIN = (
    bool,
    int,
    float,
    str,
    bytes,
    type(None),
    dt.date,
    dt.time,
    dt.timedelta,
    decimal.Decimal,
    enum.Enum,
    uuid.UUID,
)


class _Unknown(Exception):
    """A value whose digest would not be the same in every process."""


def digest(expr: Any, aliases: Mapping[str, str] = {}) -> str | None:
    """The structural digest of Ibis expression `expr` (None: it holds something that has
    none, such as a table of data in memory). `aliases`: a table's name -> the name its
    digest takes instead (work tables)."""
    memo: dict[Node, str] = {}
    references: dict[Any, int] = {}

    def node_digest(node: Node) -> str:
        if node in memo:
            return memo[node]
        kind = type(node)
        if isinstance(node, ops.DatabaseTable | ops.UnboundTable):
            space = node.namespace
            parts = ["table", aliases.get(node.name, node.name), value(node.schema)]
            parts.append(value((space.catalog, space.database)))
        else:
            # (A function's own name in SQL too: a UDF's class is named after its Python one.)
            parts = [f"{kind.__module__}.{kind.__qualname__}", getattr(kind, "__func_name__", "")]
            for name, arg in zip(node.__argnames__, node.__args__, strict=True):
                if name == "identifier" and isinstance(node, ops.Reference):
                    # A process-wide counter; only which references are the same matters.
                    arg = references.setdefault(arg, len(references))
                parts.append(f"{name}={value(arg)}")
            if isinstance(node, ops.ScalarParameter | ops.InMemoryTable):
                raise _Unknown(kind.__name__)  # its value is given at run time / in memory
        text = "\x1f".join(parts)
        memo[node] = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        return memo[node]

    def value(arg: Any) -> str:
        if isinstance(arg, Node):
            return f"@{node_digest(arg)}"
        if isinstance(arg, tuple | list | frozenset):
            items = sorted(map(value, arg)) if isinstance(arg, frozenset) else map(value, arg)
            return f"{type(arg).__name__}({', '.join(items)})"
        if isinstance(arg, Mapping):
            inner = ", ".join(f"{value(k)}: {value(v)}" for k, v in arg.items())
            return f"{type(arg).__name__}{{{inner}}}"
        if isinstance(arg, sch.Schema):
            return value(tuple((name, kind) for name, kind in arg.items()))
        if isinstance(arg, (dtypes.DataType, *_PLAIN)):
            return f"{type(arg).__name__}:{arg!r}"
        raise _Unknown(type(arg).__name__)

    try:
        return hashlib.sha256(f"{SALT}\n{node_digest(expr.op())}".encode()).hexdigest()
    except _Unknown:
        return None


@dataclass
class CompiledSql:
    """SQL texts by expression digest, read from and added to the file at `path`."""

    path: Path
    _texts: dict[str, str] | None = None
    _added: dict[str, str] = field(default_factory=dict)
    read: int = 0  # queries whose kept text was read (none compiled)
    compiled: int = 0  # queries compiled here

    def get(self, key: str) -> str | None:
        if self._texts is None:
            try:
                self._texts = dict(json.loads(self.path.read_text()))
            except (OSError, ValueError):
                self._texts = {}
        return self._added.get(key) or self._texts.get(key)

    def add(self, key: str, text: str) -> None:
        if len(self._texts or ()) + len(self._added) < MOST:
            self._added[key] = text

    def save(self) -> None:
        """Write what was added to the file, merged with what another process wrote
        meanwhile (the last writer may drop the other's newest: they compile again)."""
        if not self._added:
            return
        try:
            texts = dict(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            texts = {}
        texts.update(self._added)
        partial = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}")
        try:
            partial.write_text(json.dumps(texts))
            os.replace(partial, self.path)
        except OSError:  # a mirror this process may read but not write: compile next time
            partial.unlink(missing_ok=True)
            return
        self._texts, self._added = texts, {}

    def text(self, key: str | None, compile: Callable[[], str], names: Mapping[str, str]) -> str:
        """The SQL for digest `key`: kept, or compiled now and kept. `names`: a work table's
        name in this process -> its name in the kept text (the two swapped on the way)."""
        if key is None:
            self.compiled += 1
            return compile()
        kept = self.get(key)
        if kept is not None:
            self.read += 1
            return _renamed(kept, {v: k for k, v in names.items()})
        self.compiled += 1
        text = compile()
        self.add(key, _renamed(text, names))
        return text


def _renamed(text: str, names: Mapping[str, str]) -> str:
    """`text` with each quoted table name in `names` replaced by the name it maps to."""
    for old, new in names.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    return text
