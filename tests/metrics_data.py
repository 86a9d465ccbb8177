"""A tiny company whose every KPI is worked out by hand in tests/test_metrics.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from crm_scorecard.accounts.models import Department
from crm_scorecard.clv.models import CustomerValue, ValueFit
from crm_scorecard.crm import models as m


def at(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def build() -> dict[str, Department]:
    sales = Department.objects.create(name="M-Sales")
    service = Department.objects.create(name="M-Service")
    c1 = m.Customer.objects.create(
        external_id="MC1",
        full_name="C One",
        region="North",
        segment="consumer",
        birth_date=date(1990, 5, 1),
        department=sales,
    )
    c2 = m.Customer.objects.create(
        external_id="MC2",
        full_name="C Two",
        region="South",
        segment="enterprise",
        birth_date=date(1960, 1, 1),
        department=sales,
    )
    c3 = m.Customer.objects.create(
        external_id="MC3",
        full_name="C Three",
        region="North",
        segment="consumer",
        department=service,
    )
    std = m.Product.objects.create(sku="M-STD", name="Std", category="Devices", tier="standard")
    prem = m.Product.objects.create(sku="M-PREM", name="Prem", category="Devices", tier="premium")
    acc = m.Product.objects.create(sku="M-ACC", name="Acc", category="Accessories", tier="standard")
    e1 = m.Employee.objects.create(
        external_id="ME1", full_name="Seller One", department=sales, hired_at=date(2020, 1, 1)
    )
    e2 = m.Employee.objects.create(
        external_id="ME2",
        full_name="Seller Two",
        department=sales,
        hired_at=date(2025, 6, 1),
        left_at=date(2026, 2, 10),
    )
    a1 = m.Employee.objects.create(
        external_id="MA1", full_name="Agent One", department=service, hired_at=date(2026, 1, 15)
    )
    orders = [
        ("MO1", c1, "2026-01-10", e1, [(std, "100")]),
        ("MO2", c2, "2026-01-20", e2, [(std, "50"), (acc, "30")]),
        ("MO3", c1, "2026-02-05", e1, [(prem, "300")]),
        ("MO4", c3, "2026-02-15", e1, [(std, "70")]),
        ("MO5", c1, "2026-03-03", e1, [(acc, "20")]),
        ("MO6", c2, "2026-03-25", e2, [(std, "40")]),
    ]
    for oid, customer, day, seller, lines in orders:
        order = m.Order.objects.create(
            external_id=oid,
            customer=customer,
            ordered_at=at(day, 12),
            salesperson=seller,
            channel="online",
        )
        for n, (product, amount) in enumerate(lines, start=1):
            m.OrderLine.objects.create(
                order=order, line_no=n, product=product, amount=Decimal(amount)
            )
    for lid, created, converted, lost in [
        ("ML1", "2026-01-05", "2026-01-20", None),
        ("ML2", "2026-01-10", "2026-03-01", None),
        ("ML3", "2026-01-15", None, "2026-01-30"),
        ("ML4", "2026-02-01", "2026-03-03", None),  # exactly 30 days: converted in time
    ]:
        m.Lead.objects.create(
            external_id=lid,
            created_at=at(created),
            converted_at=at(converted) if converted else None,
            lost_at=at(lost) if lost else None,
            department=sales,
            owner=e1,
        )
    contacts = [
        ("MI1", c1, "call", at("2026-01-02", 10), 60, 0, 300, 2, True),
        ("MI2", c1, "call", at("2026-01-05", 10), 30, 20, 200, 1, False),
        ("MI3", c3, "email", at("2026-01-20", 10), None, None, 100, 1, True),
        ("MI4", c1, "visit", at("2026-02-10", 10), None, None, 1800, 3, True),
        ("MI5", c1, "visit", at("2026-02-20", 10), None, None, None, 1, None),
        ("MI6", c3, "call", at("2026-02-25", 10), 90, 40, 400, 2, True),
    ]
    for iid, customer, channel, when, wait, hold, handle, topics, resolved in contacts:
        m.Interaction.objects.create(
            external_id=iid,
            customer=customer,
            agent=a1,
            department=service,
            channel=channel,
            started_at=when,
            wait_seconds=wait,
            hold_seconds=hold,
            handle_seconds=handle,
            topic_count=topics,
            resolved_first_contact=resolved,
        )
    for fid, customer, day, rating, recommend in [
        ("MF1", c1, "2026-01-15", 5, 10),
        ("MF2", c2, "2026-01-20", 3, 6),
        ("MF3", c3, "2026-01-25", None, 8),
        ("MF4", c1, "2026-02-10", 4, 9),
    ]:
        m.Feedback.objects.create(
            external_id=fid,
            customer=customer,
            submitted_at=at(day),
            rating=rating,
            recommend=recommend,
        )
    # Service level (hours by severity): critical 4, high 24, medium 72, low 168.
    for kid, customer, category, severity, opened, resolved, responded, reopened in [
        # Critical, resolved after 24 h: late, overdue from 04:00 on the 10th until resolved.
        ("MK1", c1, "billing", "critical", at("2026-01-10"), at("2026-01-11"), at("2026-01-10", 2), None),
        # Medium, due Jan 23, first resolved in January, reopened Feb 1, resolved again Feb 5.
        ("MK2", c2, "service", "medium", at("2026-01-20"), at("2026-02-05"), at("2026-01-20", 6), at("2026-02-01")),
        # Low, due Mar 4: open at the end of February, but not yet overdue.
        ("MK3", c3, "product", "low", at("2026-02-25"), None, at("2026-02-25", 3), None),
        # Resolved 36 h and 1.8 s after it opened: the fraction of a second counts.
        ("MK4", c1, "billing", "medium", at("2026-02-20"), at("2026-02-21", 12) + timedelta(seconds=1.8), at("2026-02-20", 6), None),
    ]:  # fmt: skip
        m.Complaint.objects.create(
            external_id=kid,
            customer=customer,
            category=category,
            severity=severity,
            opened_at=opened,
            resolved_at=resolved,
            first_response_at=responded,
            first_reopened_at=reopened,
            reopened_count=1 if reopened else 0,
            department=service,
        )
    for employee, day, rating in [
        (e1, "2026-01-10", 4),
        (a1, "2026-01-20", 5),
        (e1, "2026-03-01", 2),
    ]:
        m.EngagementAnswer.objects.create(employee=employee, answered_at=at(day), rating=rating)
    # Customer value: a fit whose predictions are as of 2026-02-20
    fit = ValueFit.objects.create(
        calibration_end=date(2026, 2, 20),
        data_end=date(2026, 2, 20),
        horizon_weeks=52,
        annual_discount_rate=0.1,
        at_risk_below=0.5,
        r=0.5,
        alpha=4.0,
        a=0.8,
        b=2.5,
        p=6.0,
        q=4.0,
        v=15.0,
        customers=3,
        repeat_customers=2,
        seconds=0.1,
    )
    for customer, band, p_alive, expected, historic in [
        (c1, "high", 0.9, 500.0, 400.0),
        (c2, "at_risk", 0.3, 20.0, 80.0),
        (c3, "low", 1.0, 40.0, 70.0),
    ]:
        CustomerValue.objects.create(
            fit=fit,
            customer=customer,
            frequency=1,
            recency_weeks=1.0,
            age_weeks=2.0,
            historic_value=historic,
            p_alive=p_alive,
            expected_purchases=1.0,
            expected_spend=expected,
            expected_value=expected,
            value_band=band,
        )
    return {"sales": sales, "service": service}


def clear() -> None:
    for model in (
        m.OrderLine,
        m.Order,
        m.Lead,
        m.Interaction,
        m.Feedback,
        m.ComplaintEvent,
        m.Complaint,
        m.EngagementAnswer,
        CustomerValue,
        ValueFit,
        m.Customer,
        m.Product,
        m.Employee,
    ):
        model.objects.all().delete()
    Department.objects.filter(name__startswith="M-").delete()
