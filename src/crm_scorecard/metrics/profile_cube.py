"""The customer profile's pre-aggregated order lines: one Parquet file per version of the
columnar mirror that the profile (`profile.py`) groups instead of the raw order lines.

One row per customer, day (UTC) and cell of the order's own dimensions (sales channel,
salesperson, product category, product tier), with the customer's own columns beside it
(department, birth date, region, country...: no join with the customers per request):

- `revenue`: the amount of the customer's order lines in the cell that day;
- `orders_ct`: their orders with a line in the cell (category and tier both);
- `orders_c`, `orders_t`, `orders_o`: the orders whose first (category, tier) cell among
  their lines of the same category, of the same tier, of any cell is this one;
- `prev_N`, for each combination N of channel, category and tier: the day of the
  customer's row before this one among their rows with the same values of those (null:
  none before). A group's customers who ever bought are its rows without one; those who
  bought in a range, its rows in the range whose row before is older than the range.

An order with lines in two cells counts once in each cell, as the profile counts it; summed
over the cells of a group, `orders_c` counts each order once per category however many
tiers it has there, `orders_t` once per tier, `orders_o` once. Channel, salesperson, day and
customer are the order's own, so every count adds up over them. Which one a profile sums
depends on whether it breaks down or filters by category or tier (`orders_column`). So
a profile sums the cube's rows into its cells in one pass, never grouping per customer or
per order (over a million customers that grouping was most of the 1-3 s a view took on
the cube; the joins of the order lines to their orders, products and customers, most of
the 3-12 s a view took on the order lines themselves).

Beside it, two totals at any date that a profile over all dates sums instead:
- the customers' (`customers_expr`): one row per customer on record, with their own columns
  and what they bought, for a profile by the customer's own dimensions (country by segment
  on a million customers: 41 ms of DuckDB against 141 ms for counting the customers and
  summing the cube, load 6);
- the cells' (`cells_expr`): the cube summed over customers, days and salespeople, for a
  profile by an order's dimension but the salesperson, not by age (department by category:
  25,621 rows, 9 ms against 127 ms on the cube, load 8), and for who ever bought in a
  cell over a range;
and the customers on record per cell of their own columns (`people_expr`), which a
profile by those over a range counts (but by age).

A mirror version never changes once named, so the files are written once per version, beside
its tables: when the sync writes the version (`derive`), or by the first profile that finds
one missing (an older version), under a lock, to a temporary name renamed when complete.
They go with their version. A version that copied none of the tables they are computed from
links the previous version's files instead."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

import ibis
from ibis.expr.types import Table

from . import semantic
from . import sources as built
from .backends import Connection, ParquetConnection, duckdb_in_utc, write_parquet
from .kinds import period_expr

FORMAT = 3  # bump when the file's columns or meaning change
INPUTS = ("crm_customer", "crm_order", "crm_orderline", "crm_product")
LINE_LEVEL = ("product_category", "product_tier")  # dimensions that differ within an order
ORDER_LEVEL = ("channel", "salesperson_id")  # the order's own columns kept in the cube
MEASURES = ("revenue", "orders_ct", "orders_c", "orders_t", "orders_o")
NO_DAY = 2**31 - 1  # orders without a date sort last
# The order dimensions a profile counts customers by without grouping per customer: every
# combination of them, by a number (its `prev_N` column).
COUNTED = ("channel", "product_category", "product_tier")
PINNABLE = {
    mask: tuple(d for i, d in enumerate(COUNTED) if mask & (1 << i))
    for mask in range(1 << len(COUNTED))
}


def customer_columns() -> list[str]:
    """The customer's columns the cube carries: every customer dimension read straight off
    the customer's row (`join_customer`), but the age bracket, which is worked out from the
    birth date on the profile's day."""
    return [
        d.name
        for d in semantic.CUSTOMER
        if d.join is built.join_customer and d.name != "age_bracket"
    ]


def table_name() -> str:
    """The cube's file (without `.parquet`) in a version folder: named after its layout,
    so a change of the customer's dimensions writes a new one rather than reading an old."""
    layout = repr((FORMAT, customer_columns())).encode()
    return f"profile_cube_{hashlib.sha1(layout).hexdigest()[:10]}"


def orders_column(pinned: set[str]) -> str:
    """The order count to sum when the profile breaks down or filters by `pinned` of the
    line-level dimensions (see the module's docstring)."""
    if {"product_category", "product_tier"} <= pinned:
        return "orders_ct"
    if "product_category" in pinned:
        return "orders_c"
    if "product_tier" in pinned:
        return "orders_t"
    return "orders_o"


def previous_column(pinned: set[str]) -> str | None:
    """The `prev_N` column for a profile that breaks down or filters by `pinned` of the
    order's dimensions; None when one of them is not among COUNTED (the salesperson)."""
    if not pinned <= set(COUNTED):
        return None
    return f"prev_{sum(1 << i for i, d in enumerate(COUNTED) if d in pinned)}"


def cube_expr(conn: Connection) -> Table:
    """The cube as an Ibis expression over the CRM tables on `conn`: the order lines joined
    as the profile joins them (an inner join to their order, a left join to their product)."""
    o = conn.table("crm_order")
    orders = o.select(
        order=o.id,
        customer=o.customer_id,
        ts=o.ordered_at,
        channel=o.channel,
        salesperson_id=o.salesperson_id,
    )
    lines = built.order_lines(conn, orders)
    # Narrow types: the profile scans every row of the cube, and reads them faster so.
    lines = lines.mutate(day=period_expr(lines.ts, "day").cast("int32"))
    keys = ["customer", "day", *ORDER_LEVEL, *LINE_LEVEL]
    cells = lines.group_by([*keys, "order"]).aggregate(amount=lines.amount.sum())
    first = {
        "first_c": ibis.row_number().over(
            group_by=[cells.order, cells.product_category], order_by=[cells.product_tier]
        ),
        "first_t": ibis.row_number().over(
            group_by=[cells.order, cells.product_tier], order_by=[cells.product_category]
        ),
        "first_o": ibis.row_number().over(
            group_by=[cells.order], order_by=[cells.product_category, cells.product_tier]
        ),
    }
    cells = cells.mutate(**first)
    cube = cells.group_by(keys).aggregate(
        revenue=cells.amount.sum(),
        orders_ct=cells.count().cast("int32"),
        orders_c=(cells.first_c == 0).ifelse(1, 0).sum().cast("int32"),
        orders_t=(cells.first_t == 0).ifelse(1, 0).sum().cast("int32"),
        orders_o=(cells.first_o == 0).ifelse(1, 0).sum().cast("int32"),
    )
    # Who bought in a group, at any date or in a range, without grouping per customer: per
    # customer and value of the pinned order dimensions, the day of the row before (null:
    # the first row). A group's customers are its rows without one; its active customers
    # in a range, its rows in the range whose row before is older than the range.
    cube = cube.mutate(sort_day=cube.day.fill_null(NO_DAY))
    previous = {}
    for mask, pinned in PINNABLE.items():
        window = ibis.window(
            group_by=[cube.customer, *(cube[d] for d in pinned)],
            order_by=[cube.sort_day, *(cube[d] for d in [*ORDER_LEVEL, *LINE_LEVEL])],
        )
        previous[f"prev_{mask}"] = cube.sort_day.lag().over(window).cast("int32")
    cube = cube.mutate(**previous).drop("sort_day")
    c = conn.table("crm_customer")
    people = c.select(
        cube_customer=c.id,
        department_id=c.department_id,
        birth_date=c.birth_date,
        **{name: c[name] for name in customer_columns()},
    )
    cube = cube.join(people, cube.customer == people.cube_customer).drop("cube_customer")
    return cube.order_by(["day", "customer"])


def cube_file(folder: Path) -> Path:
    return folder / f"{table_name()}.parquet"


def customers_expr(conn: Connection, cube: Table) -> Table:
    """One row per customer on record (with or without orders), with their own columns and
    their totals at any date: `revenue`, `orders` (each order once) and `active` (1: an
    order with a date). A profile by the customer's own dimensions over all dates sums
    these instead of counting the customers and summing the cube apart (a million rows
    read once rather than a million and the cube's three)."""
    dated = cube.filter(cube.day.notnull())
    totals = dated.group_by(totals_customer=dated.customer).aggregate(
        revenue=dated.revenue.sum(), orders=dated.orders_o.sum().cast("int64")
    )
    c = conn.table("crm_customer")
    people = c.select(
        customer=c.id,
        department_id=c.department_id,
        birth_date=c.birth_date,
        **{name: c[name] for name in customer_columns()},
    )
    joined = people.left_join(totals, people.customer == totals.totals_customer)
    return joined.select(
        *people.columns,
        revenue=joined.revenue.fill_null(0.0),
        orders=joined.orders.fill_null(0),
        active=joined.totals_customer.notnull().ifelse(1, 0).cast("int8"),
    )


# The cells' keys: the counted order dimensions and the customer's own columns but the birth
# date (the age bracket moves with the day; by age the profile reads the cube).
CELL_KEYS = (*COUNTED, "department_id")


def cells_expr(conn: Connection, cube: Table) -> Table:
    """The cube summed over its customers, days and salespeople: one row per cell of channel,
    category and tier and of the customer's own columns (but the birth date), with the
    revenue and order counts at any date and, per combination N of the order dimensions
    (`PINNABLE`), `customers_N` (rows without one before: the customers who ever bought
    there) and `active_N` (those of them with an order with a date). A profile by an
    order's dimension over all dates sums these (department by category on a million
    customers: some thousand rows rather than the cube's three million)."""
    dated = cube.day.notnull()
    keys = [*CELL_KEYS, *customer_columns()]
    return cube.group_by(keys).aggregate(
        revenue=dated.ifelse(cube.revenue, 0.0).sum(),
        **{m: dated.ifelse(cube[m], 0).sum().cast("int64") for m in MEASURES[1:]},
        **{
            f"customers_{mask}": cube[f"prev_{mask}"].isnull().ifelse(1, 0).sum().cast("int64")
            for mask in PINNABLE
        },
        **{
            f"active_{mask}": (cube[f"prev_{mask}"].isnull() & dated)
            .ifelse(1, 0)
            .sum()
            .cast("int64")
            for mask in PINNABLE
        },
    )


def people_expr(conn: Connection, cube: Table) -> Table:
    """The customers on record (with or without orders), counted per department and value
    of their own columns but the birth date: what a profile by those over a range counts
    as its customers, in some thousand rows rather than a million."""
    c = conn.table("crm_customer")
    keys = ["department_id", *customer_columns()]
    return c.group_by(keys).aggregate(customers=c.count())


TOTALS = {"customers": customers_expr, "cells": cells_expr, "people": people_expr}
"""The totals beside the cube, each made from the cube (and the customers) by its function."""


def totals_name(kind: str) -> str:
    """The table name of the totals `kind` (a key of TOTALS), after the cube's layout."""
    return table_name().replace("profile_cube_", f"profile_{kind}_", 1)


def files(folder: Path) -> list[Path]:
    """The profile's files in the mirror version `folder`: the cube, then the totals."""
    return [cube_file(folder), *(folder / f"{totals_name(k)}.parquet" for k in TOTALS)]


def build(folder: Path, conn: Connection | None = None) -> Path:
    """Write the cube of the mirror version in `folder`, the customers' totals and the
    cells' totals (once: under a lock, each to a temporary name renamed when complete);
    `conn`: a DuckDB connection over that version's files."""
    target, *totals = paths = files(folder)
    if all(f.exists() for f in paths):
        return target
    with (folder / ".profile_cube.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(f.exists() for f in paths):  # another process wrote them meanwhile
            return target
        own = conn is None
        conn = conn or ParquetConnection(duckdb_in_utc(), parquet=folder)
        try:
            conn.backend.raw_sql("SET enable_progress_bar = false")
            if not target.exists():
                write_parquet(conn, cube_expr(conn), target)
            cube = conn.backend.read_parquet(str(target))
            for make, path in zip(TOTALS.values(), totals, strict=True):
                if not path.exists():
                    write_parquet(conn, make(conn, cube), path)
        finally:
            if own:
                conn.close()
    return target


def derive(folder: Path, *, previous: Path | None = None, copied: list[str] | None = None) -> None:
    """What a new mirror version in `folder` needs besides its tables, before it is named:
    the cube and the totals beside it, linked from the `previous` version when none of
    their inputs was `copied`."""
    if previous is not None and copied is not None and not set(copied) & set(INPUTS):
        for old, new in zip(files(previous), files(folder), strict=True):
            if old.exists():
                with contextlib.suppress(OSError):  # written again below
                    os.link(old, new)
    build(folder)
