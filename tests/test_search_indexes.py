"""crm_customer's indexes on PostgreSQL: what search reads is there, what nothing reads is not
(migration crm 0007), so an import pays only for indexes that are used."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _indexes() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'crm_customer'::regclass"
        )
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's own indexes")
def test_the_customer_table_keeps_the_search_indexes_and_not_the_unused_ones():
    # Given a migrated database
    # When its customer indexes are listed
    found = _indexes()
    # Then search's indexes are there
    assert {
        "crm_customer_external_id_key",
        "crm_customer_extid_upper",
        "crm_customer_extid_prefix",
        "crm_customer_name_prefix",
        "crm_customer_email_prefix",
        "crm_customer_phone_prefix",
        "crm_customer_name_trgm",
        "crm_customer_email_trgm",
        "crm_customer_phone_digits_trgm",
    } <= found
    # And the two that no query reads are not
    assert not found & {"crm_customer_phone_trgm", "crm_customer_external_id_e17aa634_like"}


def test_a_phone_prefix_is_the_range_of_digits_it_starts(org):
    # Given phones whose digits start with 4419, start with 4420 (just past the range
    # [4419, 441:)), start with 441 then 8, and hold 4419 inside
    from crm_scorecard.crm.selectors import customer_search_page

    from .factories import CustomerFactory

    for ext, name, phone in [
        ("P1", "Zed Prefix", "+44 19 555"),
        ("P2", "Amy Next", "+44 20 555"),
        ("P3", "Bo Before", "+44 18 555"),
        ("P4", "Al Inside", "+1 (4419) 7"),
    ]:
        CustomerFactory(
            external_id=ext, full_name=name, email="", phone=phone, department=org.sales
        )
    # When an agent types the four digits
    page = customer_search_page(user=org.executive, query="4419")
    # Then the phone that starts with them comes first, then the one holding them inside,
    # and no other
    assert [c.full_name for c in page.customers] == ["Zed Prefix", "Al Inside"]
    assert (page.total, page.total_is_exact) == (2, True)
    # And a shorter prefix takes every phone starting with it, in digit order, before the
    # one holding it inside
    page = customer_search_page(user=org.executive, query="+44 1")
    assert [c.full_name for c in page.customers] == ["Bo Before", "Zed Prefix", "Al Inside"]


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return str(cursor.fetchone()[0])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner settings")
def test_a_four_digit_search_gives_the_planner_its_settings_back(org):
    # Given a customer with a phone, and the planner's scans as they were set before
    from crm_scorecard.crm.selectors import customer_search_page

    from .factories import CustomerFactory

    CustomerFactory(external_id="P1", full_name="Zed", phone="+44 19 555", department=org.sales)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    # When four digits are searched (counted through the indexes alone)
    page = customer_search_page(user=org.executive, query="4419")
    # Then the customer is found, and each setting is as it was before, not simply "on"
    assert [c.full_name for c in page.customers] == ["Zed"]
    assert (_setting("enable_seqscan"), _setting("enable_indexscan")) == ("off", "on")
    with connection.cursor() as cursor:
        cursor.execute("RESET enable_seqscan")
    customer_search_page(user=org.executive, query="4419")
    assert (_setting("enable_seqscan"), _setting("enable_indexscan")) == ("on", "on")


def test_a_name_or_email_prefix_is_the_range_of_text_it_starts(org):
    # Given names and emails around the prefix "AN" (upper-cased as search compares them):
    # two that start with it in either case, one just past it ("AO"), one with a LIKE
    # wildcard right after it, and a name beyond ASCII
    from crm_scorecard.crm.selectors import customer_search_page

    from .factories import CustomerFactory

    for ext, name, email in [
        ("N1", "ann Lower", "x1@example.com"),
        ("N2", "ANZ Upper", "x2@example.com"),
        ("N3", "Ao Past", "x3@example.com"),
        ("N4", "Zed Mail", "an_x@example.com"),
        ("N5", "Öz Umlaut", "x5@example.com"),
    ]:
        CustomerFactory(
            external_id=ext, full_name=name, email=email, phone="", department=org.sales
        )
    # When "an" is typed, then the names starting with it come first (in byte order of their
    # upper case), then the email starting with it, and nothing past the range
    page = customer_search_page(user=org.executive, query="an")
    assert [c.full_name for c in page.customers] == ["ann Lower", "ANZ Upper", "Zed Mail"]
    # And "_" is a character, not LIKE's wildcard: "n_" is held inside the one email only
    page = customer_search_page(user=org.executive, query="an_")
    assert [c.full_name for c in page.customers] == ["Zed Mail"]
    # And a prefix beyond ASCII (searched with LIKE, as PostgreSQL upper-cases it) is found
    page = customer_search_page(user=org.executive, query="Öz")
    assert [c.full_name for c in page.customers] == ["Öz Umlaut"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plans")
def test_a_one_letter_prefix_reads_the_prefix_btrees_not_the_trigram_indexes(org):
    # Given a customer, and the planner told not to walk the table
    from django.test.utils import CaptureQueriesContext

    from crm_scorecard.crm.selectors import customer_search_page

    from .factories import CustomerFactory

    CustomerFactory(external_id="B1", full_name="Bo", email="bo@example.com", department=org.sales)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    try:
        # When one letter is searched
        with CaptureQueriesContext(connection) as queries:
            customer_search_page(user=org.executive, query="b")
        leading = queries.captured_queries[0]["sql"]
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + leading)
            plan = "\n".join(row[0] for row in cursor.fetchall())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
    # Then the prefixes are read from the byte-ordered btrees, never by checking every row
    # the trigram indexes give for a word starting with "b" (hundreds of thousands at a
    # million customers)
    assert "crm_customer_name_prefix" in plan and "crm_customer_email_prefix" in plan, plan
    assert "trgm" not in plan, plan
