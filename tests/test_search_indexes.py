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
