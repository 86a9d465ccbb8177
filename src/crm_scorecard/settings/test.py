"""Settings for the test suite: fast hashing, the database from DATABASE_URL."""

import hashlib
import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECRET_KEY = "test-only"

# Test databases and caches are named after this checkout, so two checkouts can run
# their suites on one machine at the same time.
CHECKOUT = hashlib.sha1(str(Path(__file__).resolve()).encode()).hexdigest()[:8]
# Within a checkout, each run of the suite gets its own SQLite files and caches (pytest-xdist
# names the run; a run without it, its process), so two runs at once never share one; the
# run's name passes on to the processes a test starts, so they share its database.
# PostgreSQL databases keep the checkout's name: a run drops the one a stopped run left.
# CRM_TEST_TAG (letters, digits, _) gives people working in one checkout a database each.
_RUN = os.environ.setdefault(
    "CRM_TEST_RUN", os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:6] or f"p{os.getpid()}"
)

# The metrics engine reads the database over its own connection (Ibis, DuckDB), so the
# SQLite test database must be a file, not Django's default in-memory one.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"crm_scorecard_test_{CHECKOUT}_{_RUN}.sqlite3")
    }
else:
    _TAG = "".join(c for c in os.environ.get("CRM_TEST_TAG", "") if c.isalnum() or c == "_")
    DATABASES["default"]["TEST"] = {"NAME": f"test_crm_scorecard_{CHECKOUT}{_TAG}"}  # noqa: F405

# Each test process has a cache folder of its own (tests clear it around each test).
CACHES["default"]["LOCATION"] = str(  # noqa: F405
    Path(tempfile.gettempdir())
    / f"crm_scorecard_test_cache_{CHECKOUT}_{_RUN}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
)
