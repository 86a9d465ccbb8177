"""A tiny company for the customer profile, every figure worked out by hand in
tests/test_profile.py.

Customers (ages on 2026-06-30; Field Sales is a part of Sales):

| id | region | country | city    | age      | segment    | acquired via | department       |
| -- | ------ | ------- | ------- | -------- | ---------- | ------------ | ---------------- |
| P1 | North  | DE      | Berlin  | 36       | consumer   | web          | Sales            |
| P2 | North  | DE      | Hamburg | 66       | enterprise | referral     | Field Sales      |
| P3 | South  | AT      | Wien    | unknown  | consumer   | web          | Customer Service |
| P4 | North  | DE      | Berlin  | 23       | consumer   | web          | Sales            |
| P5 | South  | DE      | =cmd()  | 40       | consumer   | fair         | Sales            |

Orders (Devices: DEV standard, PRM premium; Accessories: ACC standard):

| order | customer | day        | channel | lines              |
| ----- | -------- | ---------- | ------- | ------------------ |
| O1    | P1       | 2025-12-20 | online  | DEV 100            |
| O2    | P1       | 2026-01-10 | online  | DEV 200, ACC 20    |
| O3    | P2       | 2026-02-05 | retail  | PRM 500            |
| O4    | P3       | 2026-03-01 | online  | ACC 40             |
| O5    | P5       | 2026-02-28 | phone   | DEV 150            |
| O6    | P2       | 2026-07-01 | online  | ACC 60             |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.crm import models as m

RANGE = (date(2026, 1, 1), date(2026, 6, 30))


@dataclass
class Company:
    sales: Department
    field_sales: Department
    service: Department
    executive: User
    sales_manager: User
    service_agent: User


def _user(name: str, level: str, departments: list[Department]) -> User:
    user = User.objects.create_user(username=name, password="pw", level=level)
    user.departments.set(departments)
    return user


def build() -> Company:
    """The company, committed (the metrics engine reads over a connection of its own)."""
    sales = Department.objects.create(name="Sales")
    field_sales = Department.objects.create(name="Field Sales", parent=sales)
    service = Department.objects.create(name="Customer Service")
    org = Company(
        sales=sales,
        field_sales=field_sales,
        service=service,
        executive=_user("p-exec", Level.EXECUTIVE, []),
        sales_manager=_user("p-sales-manager", Level.MANAGER, [sales]),
        service_agent=_user("p-service-agent", Level.AGENT, [service]),
    )
    people = {}
    for key, region, country, city, birth, segment, via, dep in [
        ("P1", "North", "DE", "Berlin", date(1990, 5, 1), "consumer", "web", org.sales),
        ("P2", "North", "DE", "Hamburg", date(1960, 1, 1), "enterprise", "referral", org.field_sales),
        ("P3", "South", "AT", "Wien", None, "consumer", "web", org.service),
        ("P4", "North", "DE", "Berlin", date(2003, 3, 15), "consumer", "web", org.sales),
        ("P5", "South", "DE", "=cmd()", date(1985, 7, 1), "consumer", "fair", org.sales),
    ]:  # fmt: skip
        people[key] = m.Customer.objects.create(
            external_id=key,
            full_name=f"Customer {key}",
            region=region,
            country=country,
            city=city,
            birth_date=birth,
            segment=segment,
            acquisition_channel=via,
            department=dep,
        )
    dev = m.Product.objects.create(sku="DEV", name="Dev", category="Devices", tier="standard")
    prm = m.Product.objects.create(sku="PRM", name="Prm", category="Devices", tier="premium")
    acc = m.Product.objects.create(sku="ACC", name="Acc", category="Accessories", tier="standard")
    for oid, who, day, channel, lines in [
        ("O1", "P1", "2025-12-20", "online", [(dev, "100")]),
        ("O2", "P1", "2026-01-10", "online", [(dev, "200"), (acc, "20")]),
        ("O3", "P2", "2026-02-05", "retail", [(prm, "500")]),
        ("O4", "P3", "2026-03-01", "online", [(acc, "40")]),
        ("O5", "P5", "2026-02-28", "phone", [(dev, "150")]),
        ("O6", "P2", "2026-07-01", "online", [(acc, "60")]),
    ]:
        order = m.Order.objects.create(
            external_id=oid,
            customer=people[who],
            ordered_at=datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC),
            channel=channel,
        )
        for n, (product, amount) in enumerate(lines, start=1):
            m.OrderLine.objects.create(
                order=order, line_no=n, product=product, amount=Decimal(amount)
            )
    return org


def clear() -> None:
    m.OrderLine.objects.all().delete()
    m.Order.objects.all().delete()
    m.Customer.objects.all().delete()
    m.Product.objects.all().delete()
    User.objects.filter(username__startswith="p-").delete()
    Department.objects.filter(parent__isnull=False).delete()
    Department.objects.all().delete()
