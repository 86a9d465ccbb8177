from __future__ import annotations

from dataclasses import dataclass

import pytest

from crm_scorecard.accounts.models import Department, Level, User

from .browser import browser_page  # noqa: F401  (the browser tests' fixture)
from .factories import DepartmentFactory, UserFactory


@dataclass
class Org:
    """A small company: Sales with a sub-team, and Customer Service; one person per role."""

    sales: Department
    field_sales: Department
    service: Department
    executive: User
    sales_manager: User
    sales_analyst: User
    field_agent: User
    service_agent: User
    service_manager: User


@pytest.fixture
def org(db) -> Org:
    sales = DepartmentFactory(name="Sales")
    field_sales = DepartmentFactory(name="Field Sales", parent=sales)
    service = DepartmentFactory(name="Customer Service")
    return Org(
        sales=sales,
        field_sales=field_sales,
        service=service,
        executive=UserFactory(username="exec", level=Level.EXECUTIVE),
        sales_manager=UserFactory(
            username="sales-manager", level=Level.MANAGER, departments=[sales]
        ),
        sales_analyst=UserFactory(
            username="sales-analyst", level=Level.ANALYST, departments=[sales]
        ),
        field_agent=UserFactory(
            username="field-agent", level=Level.AGENT, departments=[field_sales]
        ),
        service_agent=UserFactory(
            username="service-agent", level=Level.AGENT, departments=[service]
        ),
        service_manager=UserFactory(
            username="service-manager", level=Level.MANAGER, departments=[service]
        ),
    )


@pytest.fixture(autouse=True)
def _empty_cache():
    # Cached evaluations are keyed by database state; a rolled-back test must not leave
    # entries that a later test's identical ids and timestamps could match.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _own_mirror(settings, tmp_path):
    # Each test gets its own columnar mirror of the test database (the default engine's).
    settings.METRICS_MIRROR = str(tmp_path / "columnar")
