"""Migrations on a PostgreSQL database whose owner may not create extensions.

pg_trgm is a trusted extension: a superuser, or a role with CREATE on the database, may create
it. A company's database administrator often gives the product a role with neither; the
migrations must then finish without the trigram indexes and say what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dj_database_url
import pytest
from django.db import connection

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="extensions and roles are PostgreSQL's"
)

COMMAND = str(Path(sys.executable).parent / "crm-scorecard")


@pytest.fixture
def restricted_database(db) -> Iterator[str]:
    """A new database owned by postgres, and a role that may create tables in its public
    schema but has no CREATE on the database (so no extension)."""
    import psycopg
    from django.conf import settings

    base = settings.DATABASES["default"]["TEST"]["NAME"]
    name, role = f"{base}_noext", f"{base}_noext_role"
    admin = dj_database_url.parse(os.environ["DATABASE_URL"])
    server = {"host": admin["HOST"], "port": admin["PORT"] or 5432, "user": admin["USER"]}
    server["password"] = admin["PASSWORD"]

    def run(statement: str, dbname: str = "postgres") -> None:
        with psycopg.connect(dbname=dbname, autocommit=True, **server) as conn:
            conn.execute(statement)

    def drop() -> None:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        run(f'DROP ROLE IF EXISTS "{role}"')

    drop()
    run(f'CREATE ROLE "{role}" LOGIN')
    run(f'CREATE DATABASE "{name}"')
    run(f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC')
    run(f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"')
    run(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"', dbname=name)
    try:
        host = f"{server['host']}:{server['port']}"
        yield f"postgres://{role}@{host}/{name}"
    finally:
        drop()


def _indexes(url: str) -> set[str]:
    import psycopg

    cfg = dj_database_url.parse(url)
    with psycopg.connect(
        host=cfg["HOST"], port=cfg["PORT"], user=cfg["USER"], dbname=cfg["NAME"]
    ) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'crm_customer'")
        return {row[0] for row in rows}


def test_migrations_finish_without_pg_trgm_and_say_what_is_left_out(restricted_database):
    # Given a database where the product's role may not create the pg_trgm extension
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(DATABASE_URL=restricted_database)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("METRICS_ENGINE", None)

    # When the product migrates it
    done = subprocess.run([COMMAND, "migrate"], env=env, capture_output=True, text=True)

    # Then every migration is applied, and the output says which indexes are missing and why
    assert done.returncode == 0, done.stderr[-2000:]
    assert "crm 0002: the PostgreSQL extension pg_trgm could not be created" in done.stdout
    assert "crm 0005: the PostgreSQL extension pg_trgm could not be created" in done.stdout
    indexes = _indexes(restricted_database)
    # the indexes that need no extension are there; the trigram ones are not
    assert {"crm_customer_extid_upper", "crm_customer_name_prefix"} <= indexes
    assert not {"crm_customer_name_trgm", "crm_customer_phone_digits_trgm"} & indexes
