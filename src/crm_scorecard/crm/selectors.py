"""Reads from the customer database, always scoped to what the acting user may see."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection
from django.db.models import CharField, F, FloatField, Func, Q, QuerySet, Sum, Value
from django.db.models.functions import Collate, Greatest, Upper

from crm_scorecard.accounts.scope import Actor, restrict
from crm_scorecard.errors import NotFound

from .models import Customer


def customers_visible(*, user: Actor) -> QuerySet[Customer]:
    """Every customer of the departments the user may see."""
    return restrict(Customer.objects.all(), user=user)


SEARCH_MIN_CHARS = 1
SEARCH_MAX_CHARS = 200
"""Longer than the longest name, email or phone a customer can have: such a query cannot
match, so it is answered with nothing without asking the database."""
SEARCH_COUNT_CAP = 100
"""Matches are counted up to this many; past it the count says "more than 100". Counting
stops there because every match counted is a row read: a text that 1 customer in 100 holds
takes 10,000 rows to count to 100 and 100,000 to count to 1,000 (bench/search.py
--count-cap shows what a higher cap costs)."""

PHONE_SEPARATORS = " +-()./"
_PHONE_LIKE = re.compile(r"[\d +\-()./]+")


class PhoneDigits(Func):
    """A phone number without the separators people write in it (space + - ( ) . /), so
    "+44 (161) 555-0101" is found by "1615550101". The same on every database; on
    PostgreSQL it is the expression migration 0005 indexes (TRANSLATE: a regular expression
    costs several times more per row when a short text is looked for in every phone)."""

    output_field = CharField()
    template = f"TRANSLATE(%(expressions)s, '{PHONE_SEPARATORS}', '')"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "%(expressions)s"
        for separator in PHONE_SEPARATORS:  # SQLite has no TRANSLATE
            template = f"REPLACE({template}, '{separator}', '')"
        return self.as_sql(compiler, connection, template=template, **extra)


@dataclass(frozen=True)
class CustomerSearch:
    """What an agent sees while typing: the best matches first (an exact customer id, then
    customers whose id, name, email or phone starts with the text, then those that hold it
    anywhere, most similar first) and how many customers match in all."""

    customers: list[Customer]
    total: int
    total_is_exact: bool
    """False when more than SEARCH_COUNT_CAP match: `total` is then the cap ("more than")."""


_EMPTY = CustomerSearch(customers=[], total=0, total_is_exact=True)


def customer_search(*, user: Actor, query: str, limit: int = 20) -> list[Customer]:
    """The best matches for what an agent typed; see customer_search_page."""
    return customer_search_page(user=user, query=query, limit=limit).customers


def customer_search_page(*, user: Actor, query: str, limit: int = 20) -> CustomerSearch:
    """Customers of the user's departments whose id, name, email or phone matches the text,
    best first, and how many match (counted up to SEARCH_COUNT_CAP).

    Ranking: an exact customer id; then a prefix of the id, the name, the email or the
    phone's digits (in that order, each alphabetically); then the text anywhere in the
    name, email or phone digits, most similar first on PostgreSQL (pg_trgm), by name on
    SQLite. When more than SEARCH_COUNT_CAP match, those last are ranked among the first
    SEARCH_COUNT_CAP + 1 found: the count and the fragments come from one read that stops
    there, so a keystroke costs about the same on a million customers as on a thousand."""
    text = query.strip()
    # No stored value holds a NUL (imports refuse it; PostgreSQL cannot store it), so such a
    # query matches nothing, and PostgreSQL would refuse to compare with it.
    if not SEARCH_MIN_CHARS <= len(text) <= SEARCH_MAX_CHARS or "\x00" in text:
        return _EMPTY
    digits = re.sub(r"\D", "", text) if _PHONE_LIKE.fullmatch(text) else ""
    scoped = customers_visible(user=user).alias(phone_digits=PhoneDigits("phone"))
    keys = _search_keys(text, digits)

    leading = _leading(scoped, text, keys, limit=limit)
    # order_by() drops the model's default ordering, which would sort every match first.
    matching = scoped.filter(_anywhere(text, keys)).order_by()
    with _through_indexes(len(digits) >= RARE_DIGITS):
        if len(leading) >= limit:  # the page is full: only count
            counted = matching[: SEARCH_COUNT_CAP + 1].count()
        else:  # count, and rank the fragments from the same read
            matches = list(
                matching.values_list("pk", _similarity(keys), Upper("full_name"))[
                    : SEARCH_COUNT_CAP + 1
                ]
            )
    if len(leading) >= limit:
        ranked = leading[:limit]
    else:
        counted = len(matches)
        best = sorted((-similarity, name, pk) for pk, similarity, name in matches)
        seen = set(leading)
        ranked = [*leading, *(pk for _, _, pk in best if pk not in seen)][:limit]
    rows = scoped.filter(pk__in=ranked).select_related("department").in_bulk()
    return CustomerSearch(
        customers=[rows[pk] for pk in ranked],
        total=min(counted, SEARCH_COUNT_CAP),
        total_is_exact=counted <= SEARCH_COUNT_CAP,
    )


RARE_DIGITS = 4
"""Digits this many or more are held by few phones (4 digits: about 1 in 1,000)."""


@contextmanager
def _through_indexes(wanted: bool) -> Iterator[None]:
    """Have PostgreSQL find the matches through its indexes (bitmap scans: the trigram
    indexes, and the department's), not by walking the table or an index in order.

    The count reads at most SEARCH_COUNT_CAP + 1 matches, and the planner estimates a
    4-digit fragment at about 1% of the customers: walking the table (or the department's
    index) until 101 match then looks cheapest, but so few phones hold 4 given digits that
    the walk goes through most of the table (60-450 ms at 1,000,000 customers) where the
    trigram indexes answer in about 15 ms. Letters are left to the planner: a common
    fragment (".co" in every email) is found fastest by that walk."""
    if not (wanted and _trigram_available()):
        yield
        return
    with connection.cursor() as cursor:  # fixed statements: the settings, then them back
        cursor.execute(
            "SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan'), "
            "set_config('enable_seqscan', 'off', false), "
            "set_config('enable_indexscan', 'off', false)"
        )
        seqscan, indexscan, _, _ = cursor.fetchone()
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('enable_seqscan', %s, false), "
                "set_config('enable_indexscan', %s, false)",
                [seqscan, indexscan],
            )


def _leading(
    scoped: QuerySet[Customer], text: str, keys: list[SearchKey], *, limit: int
) -> list[int]:
    """Ids of the exact customer id, then of the first `limit` prefixes of the id, name,
    email and phone, each in index order (so at most `limit` rows each are read), without
    repeats. PostgreSQL reads them all in one statement; SQLite, which cannot cut the parts
    of a UNION, one part at a time."""
    parts = [scoped.filter(external_id__iexact=text).annotate(search_key=_sort_key("full_name"))]
    for field, lookup, needle in [("external_id", "i", text), *keys]:
        if connection.vendor == "postgresql" and (field == "phone_digits" or needle.isascii()):
            # The prefix is the range [NEEDLE, next) of the byte-ordered key, which
            # PostgreSQL reads in order (key, then id: migration 0008) from 0005's btree
            # whatever the prefix: the first `limit` in range are the answer. As LIKE 'NEEDLE%' the planner read a prefix
            # through the trigram index instead and checked every row holding a word that
            # starts so (a rare 4-digit phone prefix: 1,450 candidates, 30 ms at 1,000,000
            # customers, against 0.2 ms; a 1-letter name or email prefix: 18,000 to several
            # hundred thousand, 30-900 ms). Digits have no case; other text is upper-cased
            # here as PostgreSQL does for ASCII (beyond ASCII the two may differ: LIKE).
            key = needle if field == "phone_digits" else needle.upper()
            ranged = scoped.annotate(search_key=_sort_key(field)).filter(
                search_key__gte=key, search_key__lt=key[:-1] + chr(ord(key[-1]) + 1)
            )
            parts.append(ranged)
            continue
        rows = scoped.filter(**{f"{field}__{lookup}startswith": needle})
        parts.append(rows.annotate(search_key=_sort_key(field)))
    ordered = [
        part.annotate(search_tier=Value(tier)).order_by("search_key", "pk")[:limit]
        for tier, part in enumerate(parts)
    ]
    if connection.features.supports_slicing_ordering_in_compound:
        union = (
            ordered[0]
            .values_list("pk", "search_tier", "search_key")
            .union(
                *(part.values_list("pk", "search_tier", "search_key") for part in ordered[1:]),
                all=True,
            )
        )
        found = [pk for pk, _, _ in union.order_by("search_tier", "search_key", "pk")]
    else:
        found = [pk for part in ordered for pk in part.values_list("pk", flat=True)]
    return list(dict.fromkeys(found))


def _anywhere(text: str, keys: list[SearchKey]) -> Q:
    """Every match: an id starting with the text, or the text anywhere in a searched column."""
    anywhere = Q(external_id__istartswith=text)
    for field, lookup, needle in keys:
        anywhere |= Q(**{f"{field}__{lookup}contains": needle})
    return anywhere


SearchKey = tuple[str, str, str]
"""(field, "i" for a case-insensitive lookup or "", the text to look for) of one column."""


def _search_keys(text: str, digits: str) -> list[SearchKey]:
    keys: list[SearchKey] = [("full_name", "i", text), ("email", "i", text)]
    if digits:
        keys.append(("phone_digits", "", digits))
    return keys


def _key_expression(field: str) -> Any:
    """The expression the indexes of migrations 0002 and 0005 hold for a searched column."""
    return F(field) if field == "phone_digits" else Upper(field)


def _sort_key(field: str) -> Any:
    """The column as the prefix index orders it: byte order ("C"), so PostgreSQL reads the
    first `limit` rows of a prefix straight from the index instead of sorting every match."""
    expression = _key_expression(field)
    return Collate(expression, "C") if connection.vendor == "postgresql" else expression


def _similarity(keys: list[SearchKey]) -> Any:
    """How like the text a customer is: the best trigram similarity of their searched
    columns (pg_trgm); the same for everyone where pg_trgm is missing, so name decides."""
    if not _trigram_available():
        return Value(0.0, output_field=FloatField())
    return Greatest(
        *(TrigramSimilarity(_key_expression(field), needle.upper()) for field, _, needle in keys)
    )


_TRIGRAM: dict[str, bool] = {}


def _trigram_available() -> bool:
    """Whether this PostgreSQL database has pg_trgm (migration 0005 says so when it could not
    create it); without it fragments come in name order, as on SQLite."""
    if connection.vendor != "postgresql":
        return False
    name = str(connection.settings_dict["NAME"])
    if name not in _TRIGRAM:
        with connection.cursor() as cursor:  # a fixed catalogue query, asked once per database
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            _TRIGRAM[name] = cursor.fetchone() is not None
    return _TRIGRAM[name]


def customer_get(*, user: Actor, external_id: str) -> Customer:
    """One customer the user may see, by the id the company knows it by; a customer outside
    their departments answers exactly like one that does not exist (404)."""
    if "\x00" in external_id:  # no id holds a NUL; PostgreSQL would refuse to look
        raise NotFound("No such customer.")
    try:
        return (
            customers_visible(user=user)
            .select_related("department", "owner")
            .get(external_id=external_id)
        )
    except Customer.DoesNotExist:
        raise NotFound("No such customer.") from None


def customer_360(*, user: Actor, external_id: str, recent: int = 50) -> dict[str, object]:
    """One customer's whole story for a front-line agent: profile, purchases, contacts,
    feedback and complaints. Out of scope answers exactly like not found."""
    customer = customer_get(user=user, external_id=external_id)
    orders = list(
        customer.orders.select_related("salesperson")
        .annotate(total=Sum("lines__amount"))
        .prefetch_related("lines__product")[:recent]
    )
    return {
        "customer": customer,
        "orders": orders,
        "order_count": customer.orders.count(),
        "interactions": list(customer.interactions.select_related("agent")[:recent]),
        "feedback": list(customer.feedback.all()[:recent]),
        "complaints": list(customer.complaints.select_related("department")[:recent]),
    }
