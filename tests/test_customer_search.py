"""Front-line agents find customers as they type, best matches first, within their
departments only, with a count of every match."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.db import DatabaseError, connection

from crm_scorecard.crm import selectors
from crm_scorecard.crm.models import Customer
from crm_scorecard.crm.selectors import customer_search, customer_search_page

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(org):
    return {
        "ann": CustomerFactory(
            external_id="C100",
            full_name="Ann Able",
            email="ann@shop.example",
            phone="+44 161 555 0101",
            department=org.service,
        ),
        "bob": CustomerFactory(
            external_id="C200",
            full_name="Bob Annand",
            email="bob@corp.example",
            phone="+49 30 1234",
            department=org.field_sales,
        ),
        "cy": CustomerFactory(
            external_id="X300",
            full_name="Cy Cole",
            email="cy@corp.example",
            phone="+33 1 999",
            department=org.sales,
        ),
    }


@pytest.fixture
def ranked(org):
    """One customer per rank for the text "ann", added in an order unlike the ranking."""
    made = [
        ("frag-email", "C6", "Cy Cole", "joanna@corp.example"),
        ("frag-name", "C5", "Bob Annand", "bob@corp.example"),
        ("email-prefix", "C4", "Max Moor", "annex@shop.example"),
        ("name-prefix", "C3", "Ann Able", "able@shop.example"),
        ("id-prefix", "ANN-7", "Yan Yu", "yan@shop.example"),
        ("exact-id", "ann", "Zoe Zimmer", "zoe@shop.example"),
        ("no-match", "C7", "Dee Dale", "dee@shop.example"),
    ]
    return {
        rank: CustomerFactory(
            external_id=ext, full_name=name, email=email, phone="", department=org.sales
        )
        for rank, ext, name, email in made
    }


def names(results):
    return [c.full_name for c in results]


def test_exact_id_then_prefixes_then_fragments(org, ranked):
    # Given one customer per rank (see `ranked`)
    # When the executive types "ANN"
    page = customer_search_page(user=org.executive, query="ANN")
    # Then the exact id comes first, then id, name and email prefixes, then the fragments:
    # "Bob Annand" before "Cy Cole" by name on SQLite, and on PostgreSQL by trigram
    # similarity to "ann" (trigrams "  a", " an", "ann", "nn "): "bob annand" has 11
    # trigrams, 3 shared, 3/12 = 0.25; "joanna@corp.example" has 20, 1 shared, 1/23.
    assert names(page.customers) == [
        "Zoe Zimmer",
        "Yan Yu",
        "Ann Able",
        "Max Moor",
        "Bob Annand",
        "Cy Cole",
    ]
    # And all six matches are counted exactly
    assert (page.total, page.total_is_exact) == (6, True)


def test_the_more_similar_fragment_comes_first(org, people):
    # Given Bob (bob@corp.example) and Cy (cy@corp.example), both holding "corp.exa"
    # When the executive searches for it
    found = names(customer_search(user=org.executive, query="corp.exa"))
    # Then on PostgreSQL Cy's shorter email is more similar (pg_trgm: "corp.exa" has 9
    # trigrams, both emails share all 9; "cy@corp.example" has 15, "bob@corp.example"
    # 16, so 9/15 > 9/16); SQLite, without pg_trgm, lists fragments by name
    expected = ["Cy Cole", "Bob Annand"] if connection.vendor == "postgresql" else None
    assert found == (expected or ["Bob Annand", "Cy Cole"])


def test_matches_name_case_insensitively_in_any_position(org, people):
    # Given the executive, when searching "ANN", then the name prefix comes before the
    # name that holds it inside
    assert names(customer_search(user=org.executive, query="ANN")) == ["Ann Able", "Bob Annand"]


def test_matches_email_phone_and_id_prefix(org, people):
    # Given the executive
    user = org.executive
    # When searching by phone digits however written, and by id prefix, then the right
    # customer matches
    assert names(customer_search(user=user, query="555 01")) == ["Ann Able"]
    assert names(customer_search(user=user, query="1615550101")) == ["Ann Able"]
    assert names(customer_search(user=user, query="+44 (161)")) == ["Ann Able"]
    assert names(customer_search(user=user, query="x3")) == ["Cy Cole"]


def test_one_letter_finds_prefixes_first_and_counts_every_match(org, people):
    # Given Ann Able, Bob Annand and Cy Cole; when the executive types one letter "c"
    page = customer_search_page(user=org.executive, query=" c ")
    # Then ids starting with "c" come first (C100, C200), then the name "Cy Cole"; the
    # emails holding "c" (bob@corp, cy@corp) are the same customers, counted once
    assert names(page.customers) == ["Ann Able", "Bob Annand", "Cy Cole"]
    assert (page.total, page.total_is_exact) == (3, True)


def test_four_letters(org, people, ranked):
    # Given both sets of customers; when the executive types four letters
    page = customer_search_page(user=org.executive, query="anna")
    # Then the two Bob Annands (one per set) and joanna@ match, nothing else
    assert sorted(names(page.customers)) == ["Bob Annand", "Bob Annand", "Cy Cole"]
    assert (page.total, page.total_is_exact) == (3, True)


def test_the_count_is_capped_and_says_so(org, ranked, monkeypatch):
    # Given a cap of 5 matches counted (1,000 in the product)
    monkeypatch.setattr(selectors, "SEARCH_COUNT_CAP", 5)
    # When "ann" matches six customers
    page = customer_search_page(user=org.executive, query="ann")
    # Then all six are listed but the count says "more than 5"
    assert len(page.customers) == 6
    assert (page.total, page.total_is_exact) == (5, False)
    # And with exactly as many matches as the cap, the count is exact
    monkeypatch.setattr(selectors, "SEARCH_COUNT_CAP", 6)
    page = customer_search_page(user=org.executive, query="ann")
    assert (page.total, page.total_is_exact) == (6, True)


def test_agent_finds_and_counts_only_own_department(org, people):
    # Given the Customer Service agent, when searching a name in both departments
    page = customer_search_page(user=org.service_agent, query="ann")
    # Then only their department's customer is found and counted
    assert names(page.customers) == ["Ann Able"]
    assert page.total == 1


def test_another_departments_exact_id_is_neither_found_nor_counted(org, people):
    # Given Cy (X300) in Sales; when the Service agent types Cy's id exactly
    page = customer_search_page(user=org.service_agent, query="X300")
    # Then nothing is found, nothing counted
    assert (page.customers, page.total) == ([], 0)


def test_manager_finds_sub_departments(org, people):
    # Given the Sales manager, when searching all, then Sales and Field Sales customers match
    page = customer_search_page(user=org.sales_manager, query="example")
    assert sorted(names(page.customers)) == ["Bob Annand", "Cy Cole"]
    assert page.total == 2


def test_field_agent_does_not_see_parent_department(org, people):
    # Given the Field Sales agent, when searching, then the parent Sales customer is hidden
    assert names(customer_search(user=org.field_agent, query="example")) == ["Bob Annand"]


def test_limit_keeps_the_best_and_counts_all(org):
    # Given 30 customers whose names start with "Match" and one holding it inside
    CustomerFactory(full_name="Rematch", department=org.service)
    for i in range(30):
        CustomerFactory(full_name=f"Match {i:02d}", department=org.service)
    # When searching with the default limit
    page = customer_search_page(user=org.executive, query="match")
    # Then the first 20 name prefixes come back in name order, and all 31 are counted
    assert names(page.customers) == [f"Match {i:02d}" for i in range(20)]
    assert page.total == 31


@pytest.mark.parametrize("query", ["", "   ", "An\x00n", "\x00"])
def test_empty_or_nul_text_matches_nothing(org, people, query, django_assert_num_queries):
    # Given customers; when the text is empty or holds a NUL, then nothing is asked
    with django_assert_num_queries(0):
        page = customer_search_page(user=org.executive, query=query)
    assert (page.customers, page.total, page.total_is_exact) == ([], 0, True)


def test_very_long_text_matches_nothing_without_asking(org, people, django_assert_num_queries):
    # Given a name that starts with "Ann"; when the text is longer than any stored value
    text = "Ann" + "n" * selectors.SEARCH_MAX_CHARS
    # Then nothing is found and the database is not asked
    with django_assert_num_queries(0):
        page = customer_search_page(user=org.executive, query=text)
    assert (page.customers, page.total) == ([], 0)
    # While the longest text allowed is searched
    longest = "a" * selectors.SEARCH_MAX_CHARS
    assert customer_search_page(user=org.executive, query=longest).total == 0


def test_like_wildcards_are_plain_text(org, people):
    # Given no customer with "%" or "_" in any field; when they are typed
    # Then they match literally (nothing), not as LIKE wildcards
    assert customer_search_page(user=org.executive, query="%").total == 0
    assert customer_search_page(user=org.executive, query="_").total == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes are PostgreSQL's")
@pytest.mark.parametrize(
    ("field", "lookup", "text", "index"),
    [
        ("full_name", "istartswith", "an", "crm_customer_name_prefix"),
        ("email", "istartswith", "an", "crm_customer_email_prefix"),
        ("external_id", "istartswith", "c1", "crm_customer_extid_prefix"),
        ("phone_digits", "startswith", "44", "crm_customer_phone_prefix"),
        ("phone_digits", "contains", "555", "crm_customer_phone_digits_trgm"),
    ],
)
def test_postgresql_reads_each_search_through_its_index(org, people, field, lookup, text, index):
    # Given the customers, and the planner told to avoid reading the whole (tiny) table
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    # When the search's query for that column is planned, as the selector writes it
    rows = Customer.objects.alias(phone_digits=selectors.PhoneDigits("phone"))
    rows = rows.filter(**{f"{field}__{lookup}": text})
    if lookup.endswith("startswith"):
        rows = rows.order_by(selectors._sort_key(field), "pk")[:20]
    plan = rows.explain()
    # Then the index of migration 0005 serves it: the expressions match
    assert index in plan, plan
    # And a prefix comes off its index already in the order search pages it (key, then id:
    # migration 0008), so the first 20 are read and no match past them (without the id in
    # the index every match in the prefix's range was read and sorted: "Amel" at a million
    # customers, 19,400 rows; bench/search.py, README "Benchmarks")
    if lookup.endswith("startswith"):
        assert "Sort" not in plan, plan


def test_without_pg_trgm_fragments_come_in_name_order(org, people, monkeypatch):
    # Given a database where pg_trgm could not be created (see migration 0005)
    monkeypatch.setattr(selectors, "_trigram_available", lambda: False)
    # When a fragment two customers hold is searched
    found = names(customer_search(user=org.executive, query="corp.exa"))
    # Then both are found, in name order, and no trigram function was asked for
    assert found == ["Bob Annand", "Cy Cole"]


def test_migration_0005_without_pg_trgm_builds_the_prefix_indexes_and_says_what_to_run(capsys):
    # Given a PostgreSQL connection that refuses to create pg_trgm (no superuser)
    migration = importlib.import_module("crm_scorecard.crm.migrations.0005_search_trigram")
    executed: list[str] = []

    class Cursor:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql, params=None):
            executed.append(sql)
            if sql.startswith("CREATE EXTENSION"):
                raise DatabaseError('permission denied to create extension "pg_trgm"')

        def fetchone(self):
            return None

    class Editor:
        connection = SimpleNamespace(vendor="postgresql", cursor=Cursor)

        def execute(self, sql):
            executed.append(sql)

    # When the migration runs
    migration.forwards(None, Editor())
    # Then it builds the prefix indexes, no trigram index, and says why and what to run
    assert any("crm_customer_name_prefix" in sql for sql in executed)
    assert not any("gin_trgm_ops" in sql for sql in executed)
    out = capsys.readouterr().out
    assert "pg_trgm could not be created (permission denied" in out
    assert "CREATE EXTENSION pg_trgm;" in out


def test_the_search_page_says_how_many_match(client, org, ranked, monkeypatch):
    # Given the executive signed in and six customers matching "ann"
    client.force_login(org.executive)
    # When they search with the page asking for the results part (as htmx does)
    page = client.get("/customers/?q=ann", headers={"HX-Request": "true"}).content.decode()
    # Then the page says how many match
    assert "6 matches." in page
    # And past the cap it says "more than" and to type more
    monkeypatch.setattr(selectors, "SEARCH_COUNT_CAP", 5)
    page = client.get("/customers/?q=ann", headers={"HX-Request": "true"}).content.decode()
    assert "More than 5 matches; the best 6 shown. Type more" in page
