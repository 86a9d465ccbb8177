"""A synthetic company for demos, tests and benchmarks.

Deterministic for a given seed and end month: the same arguments always give the same rows.
The structure is meant to look like a real business: regions and cities, age brackets,
product categories and tiers, seasonal buying, customers who churn and some who come
back, agents with their own handle times, salespeople with their own conversion, and
feedback comments and complaints written around the themes customers raise again and again
(see `seed_comments`)."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import models, transaction

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.services import department_ensure
from crm_scorecard.periods import add_months, month_start_utc, period_index

from . import models as m
from .bulk import analyze, insert_rows, next_id, reset_sequences
from .changes import tables_touch
from .seed_comments import CommentWriter

DEPARTMENTS: dict[str, list[str]] = {
    "Sales": ["Field Sales", "Inside Sales"],
    "Customer Service": ["Call Centre", "Service Desk"],
    "Marketing": ["Digital Marketing"],
    "HR": [],
}

# country -> region -> cities
GEOGRAPHY: dict[str, dict[str, list[str]]] = {
    "United Kingdom": {
        "North": ["Manchester", "Leeds", "Newcastle"],
        "South": ["London", "Brighton", "Bristol"],
        "Scotland": ["Glasgow", "Edinburgh"],
    },
    "Germany": {
        "North": ["Hamburg", "Bremen"],
        "South": ["Munich", "Stuttgart"],
        "West": ["Cologne", "Düsseldorf"],
    },
    "France": {"Île-de-France": ["Paris", "Versailles"], "South": ["Marseille", "Nice", "Lyon"]},
    "United States": {
        "East": ["New York", "Boston"],
        "West": ["San Francisco", "Seattle"],
        "South": ["Austin", "Atlanta"],
    },
}
COUNTRY_WEIGHTS = [0.35, 0.25, 0.15, 0.25]

FIRST_NAMES = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "Lucas",
    "Mia",
    "Mason",
    "Amelia",
    "Ethan",
    "Harper",
    "Logan",
    "Evelyn",
    "James",
    "Abigail",
    "Aiden",
    "Emily",
    "Jacob",
    "Ella",
    "Michael",
    "Elizabeth",
    "Daniel",
    "Sofia",
    "Henry",
    "Avery",
    "Jackson",
    "Scarlett",
    "Sebastian",
    "Grace",
    "Jack",
    "Chloe",
    "Owen",
    "Lily",
    "Samuel",
    "Hannah",
    "Leon",
    "Clara",
    "Paul",
    "Marie",
    "Felix",
    "Lena",
    "Jonas",
    "Léa",
    "Hugo",
    "Chloé",
    "Louis",
    "Manon",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Dubois",
    "Durand",
    "Lefebvre",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Bernard",
    "Petit",
]
STREETS = [
    "High Street",
    "Station Road",
    "Church Lane",
    "Park Avenue",
    "Main Street",
    "Mill Road",
    "King Street",
    "Oak Drive",
]

SEGMENTS = [("consumer", 0.6), ("small business", 0.3), ("enterprise", 0.1)]
ACQUISITION = [
    ("online", 0.35),
    ("referral", 0.2),
    ("campaign", 0.2),
    ("retail", 0.15),
    ("field", 0.1),
]

# category -> standard and premium products (name, list price)
CATALOGUE: dict[str, list[tuple[str, str, float]]] = {
    "Devices": [
        ("standard", "Tablet S", 299),
        ("standard", "Phone S", 399),
        ("premium", "Tablet Pro", 899),
        ("premium", "Phone Pro", 1099),
    ],
    "Accessories": [
        ("standard", "Case", 29),
        ("standard", "Charger", 39),
        ("premium", "Wireless Dock", 149),
    ],
    "Software": [
        ("standard", "Office Basic", 99),
        ("standard", "Security Basic", 49),
        ("premium", "Office Suite", 299),
        ("premium", "Security Plus", 149),
    ],
    "Services": [("standard", "Setup", 79), ("premium", "On-site Installation", 249)],
    "Support Plans": [("standard", "Support 12m", 119), ("premium", "Support Premier 36m", 449)],
    "Training": [("standard", "Online Course", 59), ("premium", "Workshop Day", 690)],
}

TOPICS = [
    "billing",
    "delivery",
    "setup",
    "password reset",
    "warranty",
    "upgrade",
    "cancellation",
    "technical fault",
    "returns",
    "account change",
    "pricing",
    "invoice copy",
]

# Who looks after a customer's account, as shares of the customer base: every leaf
# department has a book of its own. Field and Inside Sales keep the accounts they sell to;
# the call centre and the service desk the retail and support-plan accounts; Digital
# Marketing the customers won online, until they buy enough to be handed to sales; HR the
# staff-purchase scheme (employees and their families buying at staff prices).
ACCOUNT_SHARES = [
    ("Field Sales", 0.18),
    ("Inside Sales", 0.22),
    ("Call Centre", 0.25),
    ("Service Desk", 0.15),
    ("Digital Marketing", 0.15),
    ("HR", 0.05),
]
BOOKS = [name for name, _ in ACCOUNT_SHARES]
BOOK_SHARES = [share for _, share in ACCOUNT_SHARES]
SALES_TEAMS = ("Field Sales", "Inside Sales")
# Books whose customers' requests for help and other grievances their own team answers.
OWN_COMPLAINTS = {"Digital Marketing": ("assistance", "other"), "HR": ("assistance", "other")}
COMPLAINT_CATEGORIES = [c.value for c in m.ComplaintCategory]
COMPLAINT_WEIGHTS = [0.15, 0.25, 0.2, 0.1, 0.2, 0.1]
LEAD_SOURCES = [
    ("website", 0.35),
    ("trade show", 0.1),
    ("referral", 0.2),
    ("campaign", 0.25),
    ("cold call", 0.1),
]
ONLINE_LEAD_SOURCES = [("website", 0.55), ("campaign", 0.45)]


@dataclass
class SeedPlan:
    """What to generate: how many customers, over how many months ending with `end`.
    Nothing is dated after `today`: a month still under way holds only its days so far."""

    customers: int = 5000
    months: int = 24
    seed: int = 42
    end: date = field(default_factory=lambda: date.today().replace(day=1))
    today: date = field(default_factory=date.today)

    @property
    def start(self) -> datetime:
        return add_months(month_start_utc(self.end.year, self.end.month), -(self.months - 1))

    @property
    def stop(self) -> datetime:
        """The first moment not generated: the month after `end`, or tomorrow if sooner."""
        tomorrow = datetime.combine(self.today + timedelta(days=1), time(), tzinfo=UTC)
        return min(add_months(month_start_utc(self.end.year, self.end.month), 1), tomorrow)


@dataclass
class SeedResult:
    rows: dict[str, int]
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.rows.values())


class CrmDataExists(Exception):
    """The database already holds customer data; seeding again would mix two companies."""


def crm_has_data() -> bool:
    return m.Customer.objects.exists() or m.Employee.objects.exists()


def crm_data_clear() -> None:
    """Delete every CRM record (not departments or users). Used by `seed --replace`."""
    with transaction.atomic():
        for model in (
            m.OrderLine,
            m.Order,
            m.Lead,
            m.Interaction,
            m.Feedback,
            m.Complaint,
            m.EngagementAnswer,
            m.Customer,
            m.Product,
            m.Employee,
        ):
            model._default_manager.all()._raw_delete(model._default_manager.db)
            tables_touch(model)


def departments_ensure() -> dict[str, Department]:
    """The demo company's department tree."""
    result: dict[str, Department] = {}
    for parent_name, children in DEPARTMENTS.items():
        parent = department_ensure(name=parent_name)
        result[parent_name] = parent
        for child in children:
            result[child] = department_ensure(name=child, parent=parent)
    return result


# ---- the rows written: one named tuple per table, its fields the table's columns --------------
class EmployeeRow(NamedTuple):
    id: int
    external_id: str
    full_name: str
    department_id: int
    role: str
    hired_at: date
    left_at: date | None


class EngagementAnswerRow(NamedTuple):
    id: int
    employee_id: int
    answered_at: datetime
    rating: int
    comment: str


class ProductRow(NamedTuple):
    id: int
    sku: str
    name: str
    category: str
    tier: str
    list_price: Decimal


class CustomerRow(NamedTuple):
    id: int
    external_id: str
    full_name: str
    email: str
    phone: str
    street: str
    city: str
    region: str
    country: str
    postal_code: str
    birth_date: date
    segment: str
    acquisition_channel: str
    acquired_at: datetime
    status: str
    owner_id: int
    department_id: int


class OrderRow(NamedTuple):
    id: int
    external_id: str
    customer_id: int
    salesperson_id: int | None
    ordered_at: datetime
    channel: str


class OrderLineRow(NamedTuple):
    id: int
    order_id: int
    line_no: int
    product_id: int
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


class LeadRow(NamedTuple):
    id: int
    external_id: str
    source: str
    created_at: datetime
    stage: str
    converted_at: datetime | None
    lost_at: datetime | None
    owner_id: int
    customer_id: int | None
    department_id: int


class InteractionRow(NamedTuple):
    id: int
    external_id: str
    customer_id: int
    agent_id: int
    department_id: int
    channel: str
    direction: str
    started_at: datetime
    wait_seconds: int
    hold_seconds: int
    handle_seconds: int
    topics: str
    topic_count: int
    resolved_first_contact: bool
    note: str


class FeedbackRow(NamedTuple):
    id: int
    external_id: str
    customer_id: int
    submitted_at: datetime
    rating: int
    recommend: int
    comment: str
    source: str


class ComplaintRow(NamedTuple):
    id: int
    external_id: str
    customer_id: int
    category: str
    description: str
    opened_at: datetime
    resolved_at: datetime | None
    status: str
    severity: str
    department_id: int
    first_response_at: datetime | None
    reopened_count: int


# A table's model, its columns and rows in that column order (what `insert_rows` takes).
TableRows = tuple[type[models.Model], tuple[str, ...], Sequence[tuple[Any, ...]]]


def _table(model: type[models.Model], row: type[tuple[Any, ...]], rows: Sequence[Any]) -> TableRows:
    return model, tuple(row._fields), rows  # type: ignore[attr-defined]


@dataclass
class CustomerBatch:
    """The rows of a chunk of customers and everything they did."""

    customers: list[CustomerRow] = field(default_factory=list)
    orders: list[OrderRow] = field(default_factory=list)
    lines: list[OrderLineRow] = field(default_factory=list)
    leads: list[LeadRow] = field(default_factory=list)
    interactions: list[InteractionRow] = field(default_factory=list)
    feedback: list[FeedbackRow] = field(default_factory=list)
    complaints: list[ComplaintRow] = field(default_factory=list)

    def tables(self) -> Iterator[TableRows]:
        yield _table(m.Customer, CustomerRow, self.customers)
        yield _table(m.Order, OrderRow, self.orders)
        yield _table(m.OrderLine, OrderLineRow, self.lines)
        yield _table(m.Lead, LeadRow, self.leads)
        yield _table(m.Interaction, InteractionRow, self.interactions)
        yield _table(m.Feedback, FeedbackRow, self.feedback)
        yield _table(m.Complaint, ComplaintRow, self.complaints)


# ---- the company's cast and its customers, as the generator sees them ------------------------
@dataclass(frozen=True, slots=True)
class Seller:
    """Someone who works leads: their team and how well they convert."""

    id: int
    department_id: int
    conversion: float


@dataclass(frozen=True, slots=True)
class StaffMember:
    """Someone who talks to customers: their team, their typical seconds per contact and
    their chance of resolving a contact at once."""

    id: int
    department_id: int
    handle_seconds: float
    first_contact_resolution: float


@dataclass(frozen=True, slots=True)
class Offer:
    """A product as the generator sells it."""

    id: int
    category: str
    tier: str
    price: float


@dataclass(frozen=True, slots=True)
class Month:
    """A month of the window: its number from the window's start, its bounds, the share of
    its days that have happened (under 1 for the month under way) and its buying season."""

    number: int
    begin: datetime
    end: datetime
    lived: float
    season: float


@dataclass(slots=True)
class Customer:
    """A customer's traits, drawn once, and where their story stands month by month."""

    id: int
    number: int
    name: str
    country: str
    region: str
    city: str
    birth: date
    segment: str
    book: str  # the department that looks after the account
    seller: Seller | None
    owner: int
    acquired: datetime
    first_month: int  # the window's month they became a customer (0 if before it)
    propensity: float  # chance of buying in a given month
    premium_taste: float
    satisfaction: float
    favourite: list[str]
    active: bool = True
    ever_ordered: bool = False
    last_order: datetime | None = None


# Typical seconds per contact: a visit takes longest, a service-desk fix longer than a
# call-centre answer.
HANDLE_SECONDS = {"Field Sales": 1500, "Service Desk": 540, "Call Centre": 330}
ROLES = {
    "Field Sales": "salesperson",
    "Inside Sales": "salesperson",
    "Call Centre": "agent",
    "Service Desk": "agent",
}
# Who answers for a complaint; "other" falls to whoever looks after the account, and so
# does help with the website or the staff scheme (see OWN_COMPLAINTS).
COMPLAINT_DEPARTMENTS = {
    "warranty": "Service Desk",
    "product": "Service Desk",
    "service": "Call Centre",
    "assistance": "Call Centre",
    "billing": "Inside Sales",
}
ORDER_CHANNELS = {
    "Field Sales": ["field", "field", "online", "phone"],
    "Inside Sales": ["phone", "phone", "online", "retail"],
}
OTHER_ORDER_CHANNELS = ["online", "online", "retail"]
ENGAGEMENT_COMMENTS = [
    "Great team.",
    "Too much overtime.",
    "Want more training.",
    "Good manager.",
    "Tools are slow.",
]


def team_sizes(customers: int) -> dict[str, int]:
    """Headcount per department for a company of this many customers."""
    n = customers
    return {
        "Field Sales": max(6, n // 500),
        "Inside Sales": max(8, n // 400),
        "Call Centre": max(15, n // 250),
        "Service Desk": max(6, n // 700),
        "Digital Marketing": max(4, n // 2000),
        "Marketing": 2,
        "HR": max(3, n // 3000),
        "Sales": 2,
        "Customer Service": 2,
    }


class _Ids:
    """Hands out primary keys for rows we insert ourselves."""

    def __init__(self) -> None:
        self.next: dict[type, int] = {}

    def start(self, model: type) -> None:
        self.next[model] = next_id(model)

    def take(self, model: type) -> int:
        value = self.next[model]
        self.next[model] = value + 1
        return value


SEEDED = [
    m.Employee,
    m.EngagementAnswer,
    m.Product,
    m.Customer,
    m.Order,
    m.OrderLine,
    m.Lead,
    m.Interaction,
    m.Feedback,
    m.Complaint,
]


def crm_seed(
    *, plan: SeedPlan, progress: Callable[[int], None] | None = None, chunk: int = 1000
) -> SeedResult:
    """Fill the database with a synthetic company. Refuses if CRM data exists already."""
    if crm_has_data():
        raise CrmDataExists(
            "The database already holds customers or employees; use --replace to start over."
        )
    generator = _Generator(plan)
    depts = departments_ensure()
    rows: Counter[str] = Counter()

    def write(tables: Iterable[TableRows]) -> None:
        for model, fields, batch in tables:
            rows[str(model._meta.model_name)] += insert_rows(model, fields, batch)

    ids = _Ids()
    with transaction.atomic():
        for model in SEEDED:
            ids.start(model)
        generator.bind(depts, ids)
        write(generator.reference_rows())
        done = 0
        while done < plan.customers:
            size = min(chunk, plan.customers - done)
            write(generator.customer_rows(first=done, count=size))
            done += size
            if progress:
                progress(size)
        reset_sequences(*SEEDED)
    analyze(*SEEDED)
    return SeedResult(rows=dict(rows))


class _Generator:
    """Holds the random state and the company's fixed cast (employees, products). Every draw
    comes from one random stream in a fixed order: that is what makes a seed repeatable, so
    a change that adds, drops or reorders a draw changes every company."""

    def __init__(self, plan: SeedPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.writer = CommentWriter(plan.seed)
        self.start = plan.start
        self.stop = plan.stop
        self.span = (self.stop - self.start).total_seconds()
        self.months = list(self._window())

    def _window(self) -> Iterator[Month]:
        for number in range(self.plan.months):
            begin = add_months(self.start, number)
            end = min(add_months(begin, 1), self.stop)
            if end <= begin:
                return
            season = 1.6 if begin.month in (11, 12) else (0.8 if begin.month in (1, 2, 8) else 1.0)
            lived = (end - begin) / (add_months(begin, 1) - begin)
            yield Month(number=number, begin=begin, end=end, lived=lived, season=season)

    # ---- the fixed cast -------------------------------------------------------------------
    def bind(self, depts: dict[str, Department], ids: _Ids) -> None:
        self.depts = depts
        self.ids = ids
        self._hire()
        self._stock()

    def _hire(self) -> None:
        """Employees of every department. Salespeople work leads; everyone but managers
        talks to customers: agents answer the phones, the others call, write or visit their
        own accounts."""
        rng = self.rng
        self.employees: list[EmployeeRow] = []
        self.salespeople: list[Seller] = []
        self.staff: dict[str, list[StaffMember]] = {}
        number = 0
        for dept_name, size in team_sizes(self.plan.customers).items():
            dept = self.depts[dept_name]
            for _ in range(size):
                number += 1
                pk = self.ids.take(m.Employee)
                hired = (self.start - timedelta(days=rng.randint(30, 3000))).date()
                left = None
                if rng.random() < 0.12:
                    left = (self.start + timedelta(seconds=rng.random() * self.span)).date()
                role = ROLES.get(dept_name, "manager" if size <= 2 else "specialist")
                self.employees.append(
                    EmployeeRow(pk, f"E{number:06d}", self._name(), dept.pk, role, hired, left)
                )
                if role == "salesperson":
                    self.salespeople.append(Seller(pk, dept.pk, rng.uniform(0.25, 0.7)))
                if role != "manager":
                    handle = rng.lognormvariate(math.log(HANDLE_SECONDS.get(dept_name, 420)), 0.3)
                    self.staff.setdefault(dept_name, []).append(
                        StaffMember(pk, dept.pk, handle, rng.uniform(0.55, 0.9))
                    )
        self.staff_by_id = {s.id: s for team in self.staff.values() for s in team}
        self.sellers = {
            team: [s for s in self.salespeople if s.department_id == self.depts[team].pk]
            for team in SALES_TEAMS
        }

    def _stock(self) -> None:
        """The product catalogue, and what the generator may sell of each category and tier."""
        self.product_rows: list[ProductRow] = []
        offers: list[Offer] = []
        for category, items in CATALOGUE.items():
            for i, (tier, name, price) in enumerate(items, start=1):
                pk = self.ids.take(m.Product)
                sku = f"{category[:3].upper()}-{tier[0].upper()}{i:02d}"
                self.product_rows.append(
                    ProductRow(pk, sku, name, category, tier, Decimal(str(price)))
                )
                offers.append(Offer(pk, category, tier, float(price)))
        self.categories = list(CATALOGUE)
        self.offers = {
            (category, tier): [o for o in offers if o.category == category and o.tier == tier]
            or [o for o in offers if o.category == category]
            for category in self.categories
            for tier in ("standard", "premium")
        }

    def reference_rows(self) -> Iterator[TableRows]:
        yield _table(m.Employee, EmployeeRow, self.employees)
        yield _table(m.EngagementAnswer, EngagementAnswerRow, self._engagement_answers())
        yield _table(m.Product, ProductRow, self.product_rows)

    def _engagement_answers(self) -> list[EngagementAnswerRow]:
        """Each employee's quarterly engagement answers while they work here, around a mood
        of their own."""
        rng = self.rng
        answers = []
        for employee in self.employees:
            mood = rng.uniform(2.2, 4.8)
            for quarter in range(0, self.plan.months, 3):
                when = add_months(self.start, quarter) + timedelta(days=rng.randint(0, 27))
                left = employee.left_at
                if (left and when.date() > left) or when >= self.stop:
                    break
                rating = min(5, max(1, round(rng.gauss(mood, 0.8))))
                comment = "" if rng.random() < 0.7 else rng.choice(ENGAGEMENT_COMMENTS)
                answers.append(
                    EngagementAnswerRow(
                        self.ids.take(m.EngagementAnswer), employee.id, when, rating, comment
                    )
                )
        return answers

    # ---- small draws ----------------------------------------------------------------------
    def _name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def _weighted(self, pairs: list[tuple[str, float]]) -> str:
        return self.rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]

    def _moment(self, low: datetime, high: datetime) -> datetime:
        seconds = max(0.0, (high - low).total_seconds())
        return (low + timedelta(seconds=int(self.rng.random() * seconds))).replace(microsecond=0)

    def _poisson(self, lam: float) -> int:
        lam = max(0.01, lam)
        limit, k, product = math.exp(-lam), 0, self.rng.random()
        while product > limit:
            k += 1
            product *= self.rng.random()
        return k

    def _former_theme_draw(self, *, praise: bool) -> None:
        """Comments used to be picked from this stream: one of five praising or seven
        grieving themes, then a sentence of three. `CommentWriter` now writes them from a
        stream of its own; the draws stay here so that every other column of a seeded
        company, and every figure measured on one, is what it was for the same seed."""
        self.rng.randrange(5 if praise else 7)

    def _former_sentence_draw(self) -> None:
        """The second of the former draws (see `_former_theme_draw`)."""
        self.rng.randrange(3)

    # ---- customers and their history -------------------------------------------------------
    def customer_rows(self, *, first: int, count: int) -> Iterator[TableRows]:
        """Customers number first+1 .. first+count with their whole history, then the leads
        of this chunk that never became customers."""
        batch = CustomerBatch()
        for number in range(first + 1, first + count + 1):
            customer = self._customer(number)
            if customer.acquired >= self.start:
                lead = self._first_lead(customer)
                if lead is not None:
                    batch.leads.append(lead)
            for month in self.months[customer.first_month :]:
                self._live(customer, month, batch)
            batch.customers.append(self._customer_row(customer))
        batch.leads += self._lost_leads(int(count * 0.8))
        yield from batch.tables()

    def _customer(self, number: int) -> Customer:
        """A new customer's traits: where they live, who looks after them, when they came,
        how often they buy and how happy they are."""
        rng = self.rng
        cid = self.ids.take(m.Customer)
        country = rng.choices(list(GEOGRAPHY), weights=COUNTRY_WEIGHTS)[0]
        region = rng.choice(list(GEOGRAPHY[country]))
        city = rng.choice(GEOGRAPHY[country][region])
        name = self._name()
        age = int(min(90, max(18, rng.gauss(44, 15))))
        birth = date(self.plan.end.year - age, rng.randint(1, 12), rng.randint(1, 28))
        segment = self._weighted(SEGMENTS)
        book = rng.choices(BOOKS, weights=BOOK_SHARES)[0]
        seller = rng.choice(self.sellers[book]) if book in self.sellers else None
        owner = seller.id if seller else rng.choice(self.staff[book]).id
        if book == "HR":
            segment = "consumer"  # staff buy for themselves and their families
        # 40% were customers before the window opens; the rest are acquired inside it.
        if rng.random() < 0.4:
            acquired = self._moment(self.start - timedelta(days=1500), self.start)
        else:
            acquired = self._moment(self.start, self.stop - timedelta(days=1))
        first_month = max(
            0, period_index(acquired.date(), "month") - period_index(self.start.date(), "month")
        )
        return Customer(
            id=cid,
            number=number,
            name=name,
            country=country,
            region=region,
            city=city,
            birth=birth,
            segment=segment,
            book=book,
            seller=seller,
            owner=owner,
            acquired=acquired,
            first_month=first_month,
            propensity=rng.betavariate(2, 15),
            premium_taste=rng.random(),
            satisfaction=rng.gauss(3.8, 0.8),
            favourite=rng.choices(self.categories, k=2),
        )

    def _live(self, customer: Customer, month: Month, batch: CustomerBatch) -> None:
        """One month of a customer's life: they may lapse or come back, and while active
        they buy now and then, get in touch, give feedback and complain."""
        rng = self.rng
        if (
            customer.active
            and customer.ever_ordered
            and rng.random() < 0.035 + (4 - customer.satisfaction) * 0.01
        ):
            customer.active = False
        elif not customer.active and rng.random() < 0.06:
            customer.active = True  # won back
        if not customer.active:
            return
        first_purchase = month.number == customer.first_month and customer.acquired >= self.start
        if rng.random() < customer.propensity * month.season * month.lived or first_purchase:
            self._order(customer, month, batch)
        # Contacts: about 0.7 a month while a customer is active (~10 each over two years).
        contacts = self._poisson((0.7 + (3.8 - customer.satisfaction) * 0.1) * month.lived)
        for _ in range(contacts):
            batch.interactions.append(self._interaction(customer, month))
        # Feedback now and then, more often after a contact.
        if rng.random() < (0.05 + (0.1 if contacts else 0.0)) * month.lived:
            batch.feedback.append(self._feedback(customer, month))
        # Complaints, more for unhappy customers.
        if rng.random() < max(0.002, 0.012 + (3.5 - customer.satisfaction) * 0.01) * month.lived:
            batch.complaints.append(self._complaint(customer, month))

    def _order(self, customer: Customer, month: Month, batch: CustomerBatch) -> None:
        """An order of one or two lines, mostly from the customer's favourite categories,
        more often premium the longer the window runs."""
        rng = self.rng
        when = self._moment(max(month.begin, customer.acquired), month.end)
        oid = self.ids.take(m.Order)
        channel = rng.choice(ORDER_CHANNELS.get(customer.book, OTHER_ORDER_CHANNELS))
        seller_id = customer.seller.id if customer.seller else None
        batch.orders.append(OrderRow(oid, f"O{oid:08d}", customer.id, seller_id, when, channel))
        upsell = min(0.9, customer.premium_taste * 0.4 + month.number / self.plan.months * 0.3)
        for line_no in range(1, rng.choice([1, 1, 1, 1, 2, 2]) + 1):
            category = (
                rng.choice(customer.favourite)
                if rng.random() < 0.7
                else rng.choice(self.categories)
            )
            tier = "premium" if rng.random() < upsell else "standard"
            offer = rng.choice(self.offers[(category, tier)])
            qty = rng.choice([1, 1, 1, 2, 3]) * (5 if customer.segment == "enterprise" else 1)
            price = Decimal(str(round(offer.price * rng.uniform(0.85, 1.0), 2)))
            batch.lines.append(
                OrderLineRow(
                    self.ids.take(m.OrderLine),
                    oid,
                    line_no,
                    offer.id,
                    Decimal(qty),
                    price,
                    (price * qty).quantize(Decimal("0.01")),
                )
            )
        customer.ever_ordered = True
        customer.last_order = when

    def _interaction(self, customer: Customer, month: Month) -> InteractionRow:
        """One contact with the customer: who handled it, how, for how long, about what."""
        rng = self.rng
        when = self._moment(max(month.begin, customer.acquired), month.end)
        agent, channel, direction = self._contact(customer.book, customer.seller)
        handle = (
            int(rng.lognormvariate(math.log(agent.handle_seconds), 0.35))
            if channel != "email"
            else int(rng.uniform(60, 400))
        )
        answered = direction == "inbound" and channel in ("call", "chat")
        wait = int(rng.expovariate(1 / 75)) if answered else 0
        hold = int(rng.expovariate(1 / 40)) if channel == "call" and rng.random() < 0.45 else 0
        topics = rng.sample(TOPICS, rng.choice([1, 1, 1, 2, 2, 3]))
        resolved_first = rng.random() < agent.first_contact_resolution
        iid = self.ids.take(m.Interaction)
        return InteractionRow(
            id=iid,
            external_id=f"I{iid:09d}",
            customer_id=customer.id,
            agent_id=agent.id,
            department_id=agent.department_id,
            channel=channel,
            direction=direction,
            started_at=when,
            wait_seconds=wait,
            hold_seconds=hold,
            handle_seconds=handle,
            topics=";".join(topics),
            topic_count=len(topics),
            resolved_first_contact=resolved_first,
            note="",
        )

    def _contact(self, book: str, seller: Seller | None) -> tuple[StaffMember, str, str]:
        """Who handles a contact with a customer of `book`, by which channel and direction.
        A quarter are the account's own people reaching out (field sales visit, inside sales
        call, marketing and the staff scheme write); the rest are the customer calling,
        writing or chatting, answered by the call centre or, for harder cases, the desk."""
        rng = self.rng
        if rng.random() < 0.25:
            own = self.staff_by_id[seller.id] if seller else rng.choice(self.staff[book])
            if book == "Field Sales" and rng.random() < 0.6:
                return own, "visit", "outbound"
            if book == "Digital Marketing":
                return own, rng.choice(["email", "email", "chat"]), "outbound"
            return own, "email" if book == "HR" else "call", "outbound"
        channel = rng.choices(["call", "email", "chat"], weights=[0.6, 0.25, 0.15])[0]
        desk = (
            "Service Desk" if rng.random() < (0.6 if channel == "email" else 0.3) else "Call Centre"
        )
        return rng.choice(self.staff[desk]), channel, "inbound"

    def _feedback(self, customer: Customer, month: Month) -> FeedbackRow:
        """A rating around the customer's satisfaction, sometimes with a comment."""
        rng = self.rng
        when = self._moment(month.begin, month.end)
        rating = min(5, max(1, round(rng.gauss(customer.satisfaction, 0.7))))
        recommend = min(10, max(0, round(rating * 2 + rng.gauss(-0.5, 1.3))))
        self._former_theme_draw(praise=rating >= 4)
        comment = ""
        if rng.random() < 0.6:
            self._former_sentence_draw()
            comment = self.writer.feedback(rating)
        source = rng.choice(["rating_sheet", "survey", "survey", "call"])
        fid = self.ids.take(m.Feedback)
        return FeedbackRow(
            fid, f"F{fid:08d}", customer.id, when, rating, recommend, comment, source
        )

    def _complaint(self, customer: Customer, month: Month) -> ComplaintRow:
        """A complaint, answered within a quarter of the time it takes to resolve; most are
        resolved, those still running at the end of the window are open or in progress."""
        rng = self.rng
        opened = self._moment(month.begin, month.end)
        category = rng.choices(COMPLAINT_CATEGORIES, weights=COMPLAINT_WEIGHTS)[0]
        hours = rng.lognormvariate(math.log(40), 0.9)
        resolved: datetime | None = opened + timedelta(hours=hours)
        status = "resolved"
        if (resolved is not None and resolved >= self.stop) or rng.random() < 0.03:
            resolved, status = None, rng.choice(["open", "in_progress"])
        severity = rng.choices(
            ["low", "medium", "high", "critical"], weights=[0.3, 0.45, 0.2, 0.05]
        )[0]
        self._former_theme_draw(praise=False)
        answered: datetime | None = opened + timedelta(hours=hours / 4)
        if answered is not None and answered >= self.stop:
            answered = None
        pk = self.ids.take(m.Complaint)
        self._former_sentence_draw()
        book = customer.book
        responsible = (
            book
            if category in OWN_COMPLAINTS.get(book, ())
            else COMPLAINT_DEPARTMENTS.get(category, book)
        )
        return ComplaintRow(
            id=pk,
            external_id=f"K{pk:08d}",
            customer_id=customer.id,
            category=category,
            description=self.writer.complaint(category),
            opened_at=opened,
            resolved_at=resolved,
            status=status,
            severity=severity,
            department_id=self.depts[responsible].pk,
            first_response_at=answered,
            reopened_count=0,
        )

    def _customer_row(self, customer: Customer) -> CustomerRow:
        """The customer's record as it stands at the end of the window: a former customer
        after eight months without an order."""
        rng = self.rng
        churned = customer.last_order is not None and (self.stop - customer.last_order).days > 240
        if churned:
            status = "former"
        elif customer.ever_ordered or customer.acquired < self.start:
            status = "customer"
        else:
            status = "lead"
        name = customer.name
        street = f"{rng.randint(1, 240)} {rng.choice(STREETS)}"
        email = f"{name.lower().replace(' ', '.').replace('ü', 'u').replace('é', 'e')}{customer.number}@example.com"
        phone = f"+{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}"
        postal_code = f"{rng.randint(10000, 99999)}"
        acquisition = "staff scheme" if customer.book == "HR" else self._weighted(ACQUISITION)
        return CustomerRow(
            id=customer.id,
            external_id=f"C{customer.number:07d}",
            full_name=name,
            email=email,
            phone=phone,
            street=street,
            city=customer.city,
            region=customer.region,
            country=customer.country,
            postal_code=postal_code,
            birth_date=customer.birth,
            segment=customer.segment,
            acquisition_channel=acquisition,
            acquired_at=customer.acquired,
            status=status,
            owner_id=customer.owner,
            department_id=self.depts[customer.book].pk,
        )

    def _first_lead(self, customer: Customer) -> LeadRow | None:
        """The won lead a customer acquired inside the window came from: a salesperson's, or
        Digital Marketing's web and campaign enquiries. Service and staff-scheme accounts
        came in through a shop, the hotline or the scheme, without a lead."""
        rng = self.rng
        if customer.seller is not None:
            owner, dept_pk = customer.seller.id, customer.seller.department_id
            source = self._weighted(LEAD_SOURCES)
        elif customer.book == "Digital Marketing":
            marketer = rng.choice(self.staff[customer.book])
            owner, dept_pk = marketer.id, marketer.department_id
            source = self._weighted(ONLINE_LEAD_SOURCES)
        else:
            return None
        created = customer.acquired - timedelta(days=rng.randint(1, 45))
        return LeadRow(
            id=self.ids.take(m.Lead),
            external_id=f"L{customer.number:07d}",
            source=source,
            created_at=created,
            stage="won",
            converted_at=customer.acquired,
            lost_at=None,
            owner_id=owner,
            customer_id=customer.id,
            department_id=dept_pk,
        )

    def _lost_leads(self, count: int) -> list[LeadRow]:
        """Leads that never became customers; salespeople convert at their own rate. Three
        in ten are web and campaign enquiries Digital Marketing works itself."""
        rng = self.rng
        leads = []
        for _ in range(count):
            if rng.random() < 0.3:
                marketer = rng.choice(self.staff["Digital Marketing"])
                seller = Seller(marketer.id, marketer.department_id, 0.4)
                source = self._weighted(ONLINE_LEAD_SOURCES)
            else:
                seller = rng.choice(self.salespeople)
                source = self._weighted(LEAD_SOURCES)
            created = self._moment(self.start, self.stop - timedelta(days=1))
            lid = self.ids.take(m.Lead)
            lost: datetime | None
            if rng.random() < seller.conversion * 0.5:
                stage, lost = rng.choice(["new", "qualified", "proposal"]), None
            else:
                days = rng.randint(3, 90)
                stage, lost = (
                    "lost",
                    min(self.stop - timedelta(seconds=1), created + timedelta(days=days)),
                )
            leads.append(
                LeadRow(
                    id=lid,
                    external_id=f"LX{lid:08d}",
                    source=source,
                    created_at=created,
                    stage=stage,
                    converted_at=None,
                    lost_at=lost,
                    owner_id=seller.id,
                    customer_id=None,
                    department_id=seller.department_id,
                )
            )
        return leads
