"""The database refuses records that make no business sense."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from crm_scorecard.crm import models as m

from .factories import CustomerFactory, DepartmentFactory, EmployeeFactory, OrderFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def refused(build) -> bool:
    try:
        with transaction.atomic():
            build()
    except IntegrityError:
        return True
    return False


def test_customer_external_id_is_unique():
    # Given a customer
    CustomerFactory(external_id="C1")
    # When another is created with the same id, then the database refuses it
    assert refused(lambda: CustomerFactory(external_id="C1"))


def test_feedback_rating_and_recommend_ranges():
    # Given a customer
    customer = CustomerFactory()
    # When feedback is out of range, then it is refused; in range is accepted
    assert refused(
        lambda: m.Feedback.objects.create(
            external_id="F1", customer=customer, submitted_at=T0, rating=6
        )
    )
    assert refused(
        lambda: m.Feedback.objects.create(
            external_id="F2", customer=customer, submitted_at=T0, rating=0
        )
    )
    assert refused(
        lambda: m.Feedback.objects.create(
            external_id="F3", customer=customer, submitted_at=T0, recommend=11
        )
    )
    assert not refused(
        lambda: m.Feedback.objects.create(
            external_id="F4", customer=customer, submitted_at=T0, rating=5, recommend=0
        )
    )


def test_complaint_cannot_be_resolved_before_it_was_opened():
    # Given a customer and their department
    customer = CustomerFactory()
    # When a complaint is resolved before it was opened, then it is refused
    assert refused(
        lambda: m.Complaint.objects.create(
            external_id="K1",
            customer=customer,
            category="billing",
            opened_at=T0,
            resolved_at=datetime(2025, 12, 31, tzinfo=UTC),
            department=customer.department,
        )
    )


def test_employee_cannot_leave_before_hired():
    # Given a department
    dept = DepartmentFactory()
    # When an employee leaves before being hired, then it is refused
    assert refused(
        lambda: m.Employee.objects.create(
            external_id="E1",
            full_name="X",
            department=dept,
            hired_at=date(2026, 1, 2),
            left_at=date(2026, 1, 1),
        )
    )


def test_lead_cannot_be_both_converted_and_lost():
    # Given a department
    dept = DepartmentFactory()
    # When a lead is converted and lost, or converted before created, then it is refused
    assert refused(
        lambda: m.Lead.objects.create(
            external_id="L1", created_at=T0, converted_at=T0, lost_at=T0, department=dept
        )
    )
    assert refused(
        lambda: m.Lead.objects.create(
            external_id="L2",
            created_at=T0,
            converted_at=datetime(2025, 1, 1, tzinfo=UTC),
            department=dept,
        )
    )


def test_order_lines_unique_per_position_and_positive_quantity():
    # Given an order with a line
    order = OrderFactory()
    m.OrderLine.objects.create(order=order, line_no=1, amount=5)
    # When a second line takes the same position, or a quantity is zero, then it is refused
    assert refused(lambda: m.OrderLine.objects.create(order=order, line_no=1, amount=5))
    assert refused(lambda: m.OrderLine.objects.create(order=order, line_no=2, amount=5, quantity=0))


def test_engagement_rating_range():
    # Given an employee
    employee = EmployeeFactory()
    # When an engagement answer is rated 6, then it is refused
    assert refused(
        lambda: m.EngagementAnswer.objects.create(employee=employee, answered_at=T0, rating=6)
    )


def test_product_price_cannot_be_negative():
    # Given nothing, when a product has a negative list price, then it is refused
    assert refused(lambda: m.Product.objects.create(sku="S", name="N", category="C", list_price=-1))


def test_department_cannot_be_its_own_ancestor():
    # Given a parent and a child department
    parent = DepartmentFactory(name="P")
    child = DepartmentFactory(name="Ch", parent=parent)
    # When the parent is moved under its child
    parent.parent = child
    # Then validation says why
    with pytest.raises(ValidationError, match="inside itself"):
        parent.full_clean()


def test_timestamps_are_timezone_aware():
    # Given a customer saved with an aware timestamp
    CustomerFactory(external_id="TZ", acquired_at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    # When read back
    customer = m.Customer.objects.get(external_id="TZ")
    # Then it is aware and in UTC
    assert (
        customer.acquired_at is not None and customer.acquired_at.utcoffset().total_seconds() == 0
    )
