"""Who may see which departments."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from crm_scorecard.accounts.scope import visible_department_ids


def test_executive_sees_everything(org):
    # Given an executive, when asking their scope, then it is unlimited
    assert visible_department_ids(user=org.executive) is None


def test_manager_and_analyst_see_sub_departments(org):
    # Given the Sales manager and analyst, when asking their scope
    # Then they see Sales and Field Sales, not Customer Service
    expected = {org.sales.pk, org.field_sales.pk}
    assert visible_department_ids(user=org.sales_manager) == expected
    assert visible_department_ids(user=org.sales_analyst) == expected


def test_agent_sees_own_department_and_its_subtree_only(org):
    # Given an agent of Customer Service, and a new sub-team under it
    from tests.factories import DepartmentFactory

    night = DepartmentFactory(name="Night Shift", parent=org.service)
    # When asking the agent's scope
    # Then it is their department's subtree: the department and the team below it, no other
    assert visible_department_ids(user=org.service_agent) == {org.service.pk, night.pk}
    assert visible_department_ids(user=org.field_agent) == {org.field_sales.pk}


def test_anonymous_and_inactive_see_nothing(org):
    # Given an inactive manager
    org.sales_manager.is_active = False
    # When asking scopes, then both are empty
    assert visible_department_ids(user=AnonymousUser()) == set()
    assert visible_department_ids(user=org.sales_manager) == set()
