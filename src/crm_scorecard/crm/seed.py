"""A synthetic company for demos, tests and benchmarks.

Deterministic for a given seed and end month: the same arguments always give the same rows.
The structure is meant to look like a real business: regions and cities, age brackets,
product categories and tiers, seasonal buying, customers who churn and some who come
back, agents with their own handle times, salespeople with their own conversion, and
feedback comments written around a dozen recurring themes."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import models, transaction

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.services import department_ensure

from . import models as m
from .bulk import analyze, insert_rows, next_id, reset_sequences
from .changes import tables_touch

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

# The dozen recurring themes of customer comments, each with a few ways people say it.
THEMES: dict[str, tuple[int, list[str]]] = {
    "slow delivery": (
        -1,
        [
            "Delivery took far too long.",
            "My order arrived two weeks late.",
            "Shipping was slow again.",
        ],
    ),
    "friendly staff": (
        1,
        [
            "The agent was very friendly.",
            "Staff were polite and helpful.",
            "Lovely people on the phone.",
        ],
    ),
    "long waiting time": (
        -1,
        [
            "I waited 20 minutes on hold.",
            "Too long in the queue before anyone answered.",
            "Waiting time on the hotline is awful.",
        ],
    ),
    "billing errors": (
        -1,
        [
            "I was charged twice.",
            "The invoice amount was wrong.",
            "Billing mistake on my last bill.",
        ],
    ),
    "product quality": (
        1,
        ["Great build quality.", "The product works perfectly.", "Very solid and reliable device."],
    ),
    "product defects": (
        -1,
        [
            "It stopped working after a week.",
            "The screen was broken on arrival.",
            "Defective unit, needed a replacement.",
        ],
    ),
    "price too high": (
        -1,
        ["Too expensive for what it is.", "Prices went up again.", "Competitors are cheaper."],
    ),
    "easy ordering": (
        1,
        [
            "Ordering online was quick and easy.",
            "The website checkout is simple.",
            "Easy to order, no fuss.",
        ],
    ),
    "unresolved issue": (
        -1,
        [
            "My problem is still not solved.",
            "I had to call three times about the same issue.",
            "Nobody followed up on my request.",
        ],
    ),
    "knowledgeable support": (
        1,
        [
            "The technician knew exactly what to do.",
            "Support solved it on the first call.",
            "Expert advice from the help desk.",
        ],
    ),
    "warranty hassle": (
        -1,
        [
            "The warranty claim was a nightmare.",
            "Warranty repair took months.",
            "They refused my warranty claim.",
        ],
    ),
    "good value": (
        1,
        ["Good value for money.", "Fair price for the quality.", "Worth every penny."],
    ),
}
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


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


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
        return add_months(month_start(self.end.year, self.end.month), -(self.months - 1))

    @property
    def stop(self) -> datetime:
        """The first moment not generated: the month after `end`, or tomorrow if sooner."""
        tomorrow = datetime.combine(self.today + timedelta(days=1), time(), tzinfo=UTC)
        return min(add_months(month_start(self.end.year, self.end.month), 1), tomorrow)


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
    rows: dict[str, int] = {}
    ids = _Ids()
    tables = [
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
    with transaction.atomic():
        for model in tables:
            ids.start(model)
        generator.bind(depts, ids)
        for model, fields, batch in generator.reference_rows():
            rows[str(model._meta.model_name)] = rows.get(
                str(model._meta.model_name), 0
            ) + insert_rows(model, fields, batch)
        done = 0
        while done < plan.customers:
            size = min(chunk, plan.customers - done)
            for model, fields, batch in generator.customer_rows(first=done, count=size):
                rows[str(model._meta.model_name)] = rows.get(
                    str(model._meta.model_name), 0
                ) + insert_rows(model, fields, batch)
            done += size
            if progress:
                progress(size)
        reset_sequences(*tables)
    analyze(*tables)
    return SeedResult(rows=rows)


TableRows = tuple[type[models.Model], tuple[str, ...], list[tuple[Any, ...]]]


class _Generator:
    """Holds the random state and the company's fixed cast (employees, products)."""

    def __init__(self, plan: SeedPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.start = plan.start
        self.stop = plan.stop
        self.span = (self.stop - self.start).total_seconds()

    # ---- the fixed cast -------------------------------------------------------------------
    def bind(self, depts: dict[str, Department], ids: _Ids) -> None:
        self.depts = depts
        self.ids = ids
        n = self.plan.customers
        self.salespeople: list[tuple[int, int, float]] = []  # (id, dept id, conversion skill)
        # Everyone who talks to customers, by department: (id, dept id, handle mean, fcr).
        # Agents answer the phones; the others call, write or visit their own accounts.
        self.staff: dict[str, list[tuple[int, int, float, float]]] = {}
        self.employees: list[tuple[Any, ...]] = []
        sizes = {
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
        roles = {
            "Field Sales": "salesperson",
            "Inside Sales": "salesperson",
            "Call Centre": "agent",
            "Service Desk": "agent",
        }
        # Typical seconds per contact: a visit takes longest, a service-desk fix longer
        # than a call-centre answer.
        handle = {"Field Sales": 1500, "Service Desk": 540, "Call Centre": 330}
        number = 0
        for dept_name, size in sizes.items():
            dept = depts[dept_name]
            for _ in range(size):
                number += 1
                pk = ids.take(m.Employee)
                hired = (self.start - timedelta(days=self.rng.randint(30, 3000))).date()
                left = None
                if self.rng.random() < 0.12:
                    left = (self.start + timedelta(seconds=self.rng.random() * self.span)).date()
                role = roles.get(dept_name, "manager" if size <= 2 else "specialist")
                self.employees.append(
                    (pk, f"E{number:06d}", self._name(), dept.pk, role, hired, left)
                )
                if role == "salesperson":
                    self.salespeople.append((pk, dept.pk, self.rng.uniform(0.25, 0.7)))
                if role != "manager":
                    self.staff.setdefault(dept_name, []).append(
                        (
                            pk,
                            dept.pk,
                            self.rng.lognormvariate(math.log(handle.get(dept_name, 420)), 0.3),
                            self.rng.uniform(0.55, 0.9),
                        )
                    )
        self.staff_by_id = {s[0]: s for team in self.staff.values() for s in team}
        self.products: list[tuple[int, str, str, float]] = []  # (id, category, tier, price)
        self.product_rows: list[tuple[Any, ...]] = []
        for category, items in CATALOGUE.items():
            for i, (tier, name, price) in enumerate(items, start=1):
                pk = ids.take(m.Product)
                sku = f"{category[:3].upper()}-{tier[0].upper()}{i:02d}"
                self.product_rows.append((pk, sku, name, category, tier, Decimal(str(price))))
                self.products.append((pk, category, tier, float(price)))
        self.categories = list(CATALOGUE)

    def reference_rows(self) -> Iterator[TableRows]:
        yield (
            m.Employee,
            ("id", "external_id", "full_name", "department_id", "role", "hired_at", "left_at"),
            self.employees,
        )
        answers = []
        for emp in self.employees:
            mood = self.rng.uniform(2.2, 4.8)
            for quarter in range(0, self.plan.months, 3):
                when = add_months(self.start, quarter) + timedelta(days=self.rng.randint(0, 27))
                if (emp[6] and when.date() > emp[6]) or when >= self.stop:
                    break
                rating = min(5, max(1, round(self.rng.gauss(mood, 0.8))))
                comment = (
                    ""
                    if self.rng.random() < 0.7
                    else self.rng.choice(
                        [
                            "Great team.",
                            "Too much overtime.",
                            "Want more training.",
                            "Good manager.",
                            "Tools are slow.",
                        ]
                    )
                )
                answers.append((self.ids.take(m.EngagementAnswer), emp[0], when, rating, comment))
        yield m.EngagementAnswer, ("id", "employee_id", "answered_at", "rating", "comment"), answers
        yield (
            m.Product,
            ("id", "sku", "name", "category", "tier", "list_price"),
            self.product_rows,
        )

    # ---- customers and their history -------------------------------------------------------
    def _name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def _weighted(self, pairs: list[tuple[str, float]]) -> str:
        return self.rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]

    def _moment(self, low: datetime, high: datetime) -> datetime:
        seconds = max(0.0, (high - low).total_seconds())
        return (low + timedelta(seconds=int(self.rng.random() * seconds))).replace(microsecond=0)

    def _contact(
        self, book: str, seller: tuple[int, int, float] | None
    ) -> tuple[tuple[int, int, float, float], str, str]:
        """Who handles a contact with a customer of `book`, by which channel and direction.
        A quarter are the account's own people reaching out (field sales visit, inside sales
        call, marketing and the staff scheme write); the rest are the customer calling,
        writing or chatting, answered by the call centre or, for harder cases, the desk."""
        rng = self.rng
        if rng.random() < 0.25:
            own = self.staff_by_id[seller[0]] if seller else rng.choice(self.staff[book])
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

    def _first_lead(
        self,
        number: int,
        cid: int,
        book: str,
        seller: tuple[int, int, float] | None,
        acquired: datetime,
    ) -> tuple[Any, ...] | None:
        """The won lead a customer acquired inside the window came from: a salesperson's, or
        Digital Marketing's web and campaign enquiries. Service and staff-scheme accounts
        came in through a shop, the hotline or the scheme, without a lead."""
        rng = self.rng
        if seller is not None:
            owner, dept_pk, source = seller[0], seller[1], self._weighted(LEAD_SOURCES)
        elif book == "Digital Marketing":
            owner, dept_pk = rng.choice(self.staff[book])[:2]
            source = self._weighted(ONLINE_LEAD_SOURCES)
        else:
            return None
        created = acquired - timedelta(days=rng.randint(1, 45))
        return (
            self.ids.take(m.Lead),
            f"L{number:07d}",
            source,
            created,
            "won",
            acquired,
            None,
            owner,
            cid,
            dept_pk,
        )

    def customer_rows(self, *, first: int, count: int) -> Iterator[TableRows]:
        rng = self.rng
        ids = self.ids
        customers: list[tuple[Any, ...]] = []
        orders: list[tuple[Any, ...]] = []
        lines: list[tuple[Any, ...]] = []
        leads: list[tuple[Any, ...]] = []
        interactions: list[tuple[Any, ...]] = []
        feedback: list[tuple[Any, ...]] = []
        complaints: list[tuple[Any, ...]] = []
        books = [name for name, _ in ACCOUNT_SHARES]
        shares = [share for _, share in ACCOUNT_SHARES]
        # Who answers for a complaint; "other" falls to whoever looks after the account, and
        # so does help with the website or the staff scheme (see OWN_COMPLAINTS).
        complaint_depts = {
            "warranty": "Service Desk",
            "product": "Service Desk",
            "service": "Call Centre",
            "assistance": "Call Centre",
            "billing": "Inside Sales",
        }
        sellers = {
            team: [s for s in self.salespeople if s[1] == self.depts[team].pk]
            for team in SALES_TEAMS
        }
        order_channels = {
            "Field Sales": ["field", "field", "online", "phone"],
            "Inside Sales": ["phone", "phone", "online", "retail"],
        }
        months = self.plan.months
        for number in range(first + 1, first + count + 1):
            cid = ids.take(m.Customer)
            country = rng.choices(list(GEOGRAPHY), weights=COUNTRY_WEIGHTS)[0]
            region = rng.choice(list(GEOGRAPHY[country]))
            city = rng.choice(GEOGRAPHY[country][region])
            name = self._name()
            age = int(min(90, max(18, rng.gauss(44, 15))))
            birth = date(self.plan.end.year - age, rng.randint(1, 12), rng.randint(1, 28))
            segment = self._weighted(SEGMENTS)
            book = rng.choices(books, weights=shares)[0]
            seller = rng.choice(sellers[book]) if book in sellers else None
            owner = seller[0] if seller else rng.choice(self.staff[book])[0]
            if book == "HR":
                segment = "consumer"  # staff buy for themselves and their families
            # 40% were customers before the window opens; the rest are acquired inside it.
            if rng.random() < 0.4:
                acquired = self._moment(self.start - timedelta(days=1500), self.start)
            else:
                acquired = self._moment(self.start, self.stop - timedelta(days=1))
            propensity = rng.betavariate(2, 15)  # chance of buying in a given month
            premium_taste = rng.random()
            satisfaction = rng.gauss(3.8, 0.8)
            favourite = rng.choices(self.categories, k=2)
            # Activity month by month: churn and come back.
            active = True
            ever_ordered = False
            last_order: datetime | None = None
            acquired_month = max(
                0, (acquired.year * 12 + acquired.month) - (self.start.year * 12 + self.start.month)
            )
            if acquired >= self.start:
                lead = self._first_lead(number, cid, book, seller, acquired)
                if lead is not None:
                    leads.append(lead)
            for month in range(acquired_month, months):
                begin = add_months(self.start, month)
                end = min(add_months(begin, 1), self.stop)
                if end <= begin:
                    break
                # A month still under way has had only some of its days.
                lived = (end - begin) / (add_months(begin, 1) - begin)
                if active and ever_ordered and rng.random() < 0.035 + (4 - satisfaction) * 0.01:
                    active = False
                elif not active and rng.random() < 0.06:
                    active = True  # won back
                if not active:
                    continue
                season = (
                    1.6 if begin.month in (11, 12) else (0.8 if begin.month in (1, 2, 8) else 1.0)
                )
                if rng.random() < propensity * season * lived or (
                    month == acquired_month and acquired >= self.start
                ):
                    when = self._moment(max(begin, acquired), end)
                    oid = ids.take(m.Order)
                    channel = rng.choice(order_channels.get(book, ["online", "online", "retail"]))
                    orders.append(
                        (oid, f"O{oid:08d}", cid, seller[0] if seller else None, when, channel)
                    )
                    upsell = min(0.9, premium_taste * 0.4 + month / months * 0.3)
                    for line_no in range(1, rng.choice([1, 1, 1, 1, 2, 2]) + 1):
                        category = (
                            rng.choice(favourite)
                            if rng.random() < 0.7
                            else rng.choice(self.categories)
                        )
                        tier = "premium" if rng.random() < upsell else "standard"
                        options = [
                            p for p in self.products if p[1] == category and p[2] == tier
                        ] or [p for p in self.products if p[1] == category]
                        product = rng.choice(options)
                        qty = rng.choice([1, 1, 1, 2, 3]) * (5 if segment == "enterprise" else 1)
                        price = Decimal(str(round(product[3] * rng.uniform(0.85, 1.0), 2)))
                        lines.append(
                            (
                                ids.take(m.OrderLine),
                                oid,
                                line_no,
                                product[0],
                                Decimal(qty),
                                price,
                                (price * qty).quantize(Decimal("0.01")),
                            )
                        )
                    ever_ordered = True
                    last_order = when
                # Contacts: about 0.7 a month while a customer is active (~10 each over two years).
                contacts = self._poisson((0.7 + (3.8 - satisfaction) * 0.1) * lived)
                for _ in range(contacts):
                    when = self._moment(max(begin, acquired), end)
                    agent, channel, direction = self._contact(book, seller)
                    handle = (
                        int(rng.lognormvariate(math.log(agent[2]), 0.35))
                        if channel != "email"
                        else int(rng.uniform(60, 400))
                    )
                    answered = direction == "inbound" and channel in ("call", "chat")
                    wait = int(rng.expovariate(1 / 75)) if answered else 0
                    hold = (
                        int(rng.expovariate(1 / 40))
                        if channel == "call" and rng.random() < 0.45
                        else 0
                    )
                    topics = rng.sample(TOPICS, rng.choice([1, 1, 1, 2, 2, 3]))
                    fcr = rng.random() < agent[3]
                    iid = ids.take(m.Interaction)
                    interactions.append(
                        (
                            iid,
                            f"I{iid:09d}",
                            cid,
                            agent[0],
                            agent[1],
                            channel,
                            direction,
                            when,
                            wait,
                            hold,
                            handle,
                            ";".join(topics),
                            len(topics),
                            fcr,
                            "",
                        )
                    )
                # Feedback now and then, more often after a contact.
                if rng.random() < (0.05 + (0.1 if contacts else 0.0)) * lived:
                    when = self._moment(begin, end)
                    rating = min(5, max(1, round(rng.gauss(satisfaction, 0.7))))
                    recommend = min(10, max(0, round(rating * 2 + rng.gauss(-0.5, 1.3))))
                    theme = self._theme(rating)
                    comment = rng.choice(THEMES[theme][1]) if rng.random() < 0.6 else ""
                    source = rng.choice(["rating_sheet", "survey", "survey", "call"])
                    fid = ids.take(m.Feedback)
                    feedback.append(
                        (fid, f"F{fid:08d}", cid, when, rating, recommend, comment, source)
                    )
                # Complaints, more for unhappy customers.
                if rng.random() < max(0.002, 0.012 + (3.5 - satisfaction) * 0.01) * lived:
                    opened = self._moment(begin, end)
                    category = rng.choices(COMPLAINT_CATEGORIES, weights=COMPLAINT_WEIGHTS)[0]
                    hours = rng.lognormvariate(math.log(40), 0.9)
                    resolved: datetime | None = opened + timedelta(hours=hours)
                    status = "resolved"
                    if (resolved is not None and resolved >= self.stop) or rng.random() < 0.03:
                        resolved, status = None, rng.choice(["open", "in_progress"])
                    severity = rng.choices(
                        ["low", "medium", "high", "critical"], weights=[0.3, 0.45, 0.2, 0.05]
                    )[0]
                    theme = self._theme(1)
                    # The department answers within a quarter of the time it takes to resolve.
                    answered_at: datetime | None = opened + timedelta(hours=hours / 4)
                    if answered_at is not None and answered_at >= self.stop:
                        answered_at = None
                    cid_row = ids.take(m.Complaint)
                    complaints.append(
                        (
                            cid_row,
                            f"K{cid_row:08d}",
                            cid,
                            category,
                            rng.choice(THEMES[theme][1]),
                            opened,
                            resolved,
                            status,
                            severity,
                            self.depts[
                                book
                                if category in OWN_COMPLAINTS.get(book, ())
                                else complaint_depts.get(category, book)
                            ].pk,
                            answered_at,
                            0,
                        )
                    )
            churned = last_order is not None and (self.stop - last_order).days > 240
            status = (
                "former"
                if churned
                else ("customer" if ever_ordered or acquired < self.start else "lead")
            )
            street = f"{rng.randint(1, 240)} {rng.choice(STREETS)}"
            email = f"{name.lower().replace(' ', '.').replace('ü', 'u').replace('é', 'e')}{number}@example.com"
            phone = f"+{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}"
            customers.append(
                (
                    cid,
                    f"C{number:07d}",
                    name,
                    email,
                    phone,
                    street,
                    city,
                    region,
                    country,
                    f"{rng.randint(10000, 99999)}",
                    birth,
                    segment,
                    "staff scheme" if book == "HR" else self._weighted(ACQUISITION),
                    acquired,
                    status,
                    owner,
                    self.depts[book].pk,
                )
            )
        # Leads that never became customers; salespeople convert at their own rate.
        # Three in ten are web and campaign enquiries Digital Marketing works itself.
        for _ in range(int(count * 0.8)):
            if rng.random() < 0.3:
                marketer = rng.choice(self.staff["Digital Marketing"])
                seller, source = (
                    (marketer[0], marketer[1], 0.4),
                    self._weighted(ONLINE_LEAD_SOURCES),
                )
            else:
                seller = rng.choice(self.salespeople)
                source = self._weighted(LEAD_SOURCES)
            created = self._moment(self.start, self.stop - timedelta(days=1))
            lid = ids.take(m.Lead)
            if rng.random() < seller[2] * 0.5:
                stage, lost = rng.choice(["new", "qualified", "proposal"]), None
            else:
                stage, lost = (
                    "lost",
                    min(
                        self.stop - timedelta(seconds=1),
                        created + timedelta(days=rng.randint(3, 90)),
                    ),
                )
            leads.append(
                (
                    lid,
                    f"LX{lid:08d}",
                    source,
                    created,
                    stage,
                    None,
                    lost,
                    seller[0],
                    None,
                    seller[1],
                )
            )
        yield (
            m.Customer,
            (
                "id",
                "external_id",
                "full_name",
                "email",
                "phone",
                "street",
                "city",
                "region",
                "country",
                "postal_code",
                "birth_date",
                "segment",
                "acquisition_channel",
                "acquired_at",
                "status",
                "owner_id",
                "department_id",
            ),
            customers,
        )
        yield (
            m.Order,
            ("id", "external_id", "customer_id", "salesperson_id", "ordered_at", "channel"),
            orders,
        )
        yield (
            m.OrderLine,
            ("id", "order_id", "line_no", "product_id", "quantity", "unit_price", "amount"),
            lines,
        )
        yield (
            m.Lead,
            (
                "id",
                "external_id",
                "source",
                "created_at",
                "stage",
                "converted_at",
                "lost_at",
                "owner_id",
                "customer_id",
                "department_id",
            ),
            leads,
        )
        yield (
            m.Interaction,
            (
                "id",
                "external_id",
                "customer_id",
                "agent_id",
                "department_id",
                "channel",
                "direction",
                "started_at",
                "wait_seconds",
                "hold_seconds",
                "handle_seconds",
                "topics",
                "topic_count",
                "resolved_first_contact",
                "note",
            ),
            interactions,
        )
        yield (
            m.Feedback,
            (
                "id",
                "external_id",
                "customer_id",
                "submitted_at",
                "rating",
                "recommend",
                "comment",
                "source",
            ),
            feedback,
        )
        yield (
            m.Complaint,
            (
                "id",
                "external_id",
                "customer_id",
                "category",
                "description",
                "opened_at",
                "resolved_at",
                "status",
                "severity",
                "department_id",
                "first_response_at",
                "reopened_count",
            ),
            complaints,
        )

    def _poisson(self, lam: float) -> int:
        lam = max(0.01, lam)
        limit, k, product = math.exp(-lam), 0, self.rng.random()
        while product > limit:
            k += 1
            product *= self.rng.random()
        return k

    def _theme(self, rating: int) -> str:
        tone = 1 if rating >= 4 else -1
        themes = [name for name, (sign, _) in THEMES.items() if sign == tone]
        return self.rng.choice(themes)
