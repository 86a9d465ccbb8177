"""The central customer database: who the customers are, what they bought, every contact
with them, what they said and what they complained about, and the employees who serve them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from crm_scorecard.accounts.models import Department


class CustomerStatus(models.TextChoices):
    LEAD = "lead", "Lead"
    CUSTOMER = "customer", "Customer"
    FORMER = "former", "Former customer"


class ProductTier(models.TextChoices):
    STANDARD = "standard", "Standard"
    PREMIUM = "premium", "Premium"


class SalesChannel(models.TextChoices):
    ONLINE = "online", "Online"
    RETAIL = "retail", "Retail"
    PHONE = "phone", "Phone"
    FIELD = "field", "Field sales"


class LeadStage(models.TextChoices):
    NEW = "new", "New"
    QUALIFIED = "qualified", "Qualified"
    PROPOSAL = "proposal", "Proposal"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class InteractionChannel(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    VISIT = "visit", "Visit"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class FeedbackSource(models.TextChoices):
    RATING_SHEET = "rating_sheet", "Rating sheet"
    SURVEY = "survey", "Survey"
    CALL = "call", "Call"


class ComplaintCategory(models.TextChoices):
    WARRANTY = "warranty", "Warranty"
    PRODUCT = "product", "Product"
    SERVICE = "service", "Service"
    ASSISTANCE = "assistance", "Assistance"
    BILLING = "billing", "Billing"
    OTHER = "other", "Other"


class ComplaintStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Employee(models.Model):
    """Someone on the payroll: a salesperson who owns customers and orders, an agent who
    handles contacts, or anyone whose engagement the employee-relationship scorecard tracks.
    May be linked to the user account they sign in with."""

    external_id = models.CharField("employee id", max_length=64, unique=True)
    full_name = models.CharField(max_length=200)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="employees")
    role = models.CharField(max_length=80, blank=True)
    hired_at = models.DateField()
    left_at = models.DateField(null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["full_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=F("hired_at")),
                name="employee_left_after_hired",
            )
        ]

    def __str__(self) -> str:
        return self.full_name


class EngagementAnswer(models.Model):
    """One employee's answer to the engagement survey: how they feel about working here."""

    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="engagement")
    answered_at = models.DateTimeField()
    rating = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__gte=1, rating__lte=5), name="engagement_rating_1_5"
            )
        ]

    def __str__(self) -> str:
        return f"{self.employee} {self.answered_at:%Y-%m-%d}: {self.rating}/5"


class Customer(models.Model):
    """A person or company we sell to, or hope to: the heart of the central database.
    Age bracket, geography and segment come from here for customer profiling."""

    external_id = models.CharField("customer id", max_length=64, unique=True)
    full_name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    segment = models.CharField(max_length=60, blank=True)
    acquisition_channel = models.CharField(max_length=60, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=CustomerStatus.choices, default=CustomerStatus.CUSTOMER
    )
    owner = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="customers")

    class Meta:
        ordering = ["full_name"]
        indexes = [models.Index(fields=["department", "full_name"])]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.external_id})"


class Product(models.Model):
    """Something we sell. Category and tier drive cross-selling and up-selling KPIs."""

    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=80)
    tier = models.CharField(
        max_length=16, choices=ProductTier.choices, default=ProductTier.STANDARD
    )
    list_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=Q(list_price__isnull=True) | Q(list_price__gte=0),
                name="product_price_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class Order(models.Model):
    """A purchase: what a customer bought and when, through which channel, sold by whom."""

    external_id = models.CharField("order id", max_length=64, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    salesperson = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    ordered_at = models.DateTimeField(db_index=True)
    channel = models.CharField(max_length=16, choices=SalesChannel.choices, blank=True)

    class Meta:
        ordering = ["-ordered_at"]
        indexes = [models.Index(fields=["customer", "ordered_at"])]

    def __str__(self) -> str:
        return self.external_id


class OrderLine(models.Model):
    """One product on an order, with what was paid for it. Revenue is the sum of amounts."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField()
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="order_lines"
    )
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["order", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["order", "line_no"], name="order_line_unique"),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="order_line_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} #{self.line_no}"


class Lead(models.Model):
    """A sales opportunity: where it came from, how far it got, and the customer it became."""

    external_id = models.CharField("lead id", max_length=64, unique=True)
    source = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(db_index=True)
    stage = models.CharField(max_length=16, choices=LeadStage.choices, default=LeadStage.NEW)
    converted_at = models.DateTimeField(null=True, blank=True)
    lost_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="leads")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(converted_at__isnull=True) | Q(converted_at__gte=F("created_at")),
                name="lead_converted_after_created",
            ),
            models.CheckConstraint(
                condition=Q(converted_at__isnull=True) | Q(lost_at__isnull=True),
                name="lead_not_both_converted_and_lost",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class Interaction(models.Model):
    """A contact with a customer: a call, email, chat or visit, with the call-centre timings
    (wait, hold, handle), the topics discussed, and whether it was solved the first time."""

    external_id = models.CharField("interaction id", max_length=64, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="interactions")
    agent = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="interactions"
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="interactions"
    )
    channel = models.CharField(max_length=16, choices=InteractionChannel.choices)
    direction = models.CharField(
        max_length=16, choices=Direction.choices, default=Direction.INBOUND
    )
    started_at = models.DateTimeField(db_index=True)
    wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    hold_seconds = models.PositiveIntegerField(null=True, blank=True)
    handle_seconds = models.PositiveIntegerField(null=True, blank=True)
    topics = models.CharField(
        max_length=400, blank=True, help_text="Topics discussed, separated by ';'."
    )
    topic_count = models.PositiveSmallIntegerField(default=0)
    resolved_first_contact = models.BooleanField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["customer", "started_at"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.started_at:%Y-%m-%d}"


class Feedback(models.Model):
    """What a customer told us: a 1 to 5 satisfaction rating, a 0 to 10 likelihood to recommend
    (for NPS) and a comment for the voice-of-the-customer affinity diagram."""

    external_id = models.CharField("feedback id", max_length=64, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="feedback")
    submitted_at = models.DateTimeField(db_index=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    recommend = models.PositiveSmallIntegerField("likelihood to recommend", null=True, blank=True)
    comment = models.TextField(blank=True)
    source = models.CharField(
        max_length=16, choices=FeedbackSource.choices, default=FeedbackSource.SURVEY
    )

    class Meta:
        ordering = ["-submitted_at"]
        verbose_name_plural = "feedback"
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="feedback_rating_1_5",
            ),
            models.CheckConstraint(
                condition=Q(recommend__isnull=True) | Q(recommend__gte=0, recommend__lte=10),
                name="feedback_recommend_0_10",
            ),
        ]

    def __str__(self) -> str:
        return f"Feedback {self.external_id}"


class Complaint(models.Model):
    """A grievance: what went wrong, how serious, which department must answer for it,
    and how it was worked through (first response, resolution, reopenings). Its steps are
    recorded as ComplaintEvent rows; `crm.complaints` moves it and says when it is due."""

    external_id = models.CharField("complaint id", max_length=64, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="complaints")
    category = models.CharField(max_length=16, choices=ComplaintCategory.choices)
    description = models.TextField(blank=True)
    opened_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ComplaintStatus.choices, default=ComplaintStatus.OPEN
    )
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MEDIUM)
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        related_name="complaints",
        help_text="The department responsible for resolving it.",
    )
    order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="complaints",
        help_text="The order it is about, if any.",
    )
    interaction = models.ForeignKey(
        Interaction,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="complaints",
        help_text="The contact it is about, if any.",
    )
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="complaints_logged",
    )
    first_response_at = models.DateTimeField(
        null=True, blank=True, help_text="When the responsible department first acted or wrote."
    )
    reopened_count = models.PositiveIntegerField(default=0)
    first_reopened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=F("opened_at")),
                name="complaint_resolved_after_opened",
            ),
            models.CheckConstraint(
                condition=Q(first_response_at__isnull=True)
                | Q(first_response_at__gte=F("opened_at")),
                name="complaint_responded_after_opened",
            ),
        ]
        indexes = [models.Index(fields=["department", "status"])]

    def __str__(self) -> str:
        return f"{self.get_category_display()} complaint {self.external_id}"


class ComplaintEvent(models.Model):
    """One step in working a complaint through: who moved it from which status to which,
    when, and what they wrote. A note without a move has the same status on both sides;
    logging the complaint is the first step (from no status to open)."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="complaint_events",
    )
    at = models.DateTimeField()
    from_status = models.CharField(max_length=16, choices=ComplaintStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=ComplaintStatus.choices)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.complaint_id}: {self.from_status or '-'} -> {self.to_status}"


class TableVersion(models.Model):
    """How many times each CRM table has been written to through the product (imports, seed,
    admin, API). The metrics engine's columnar mirror compares it to what it copied, and
    copies a table again only when it changed."""

    table = models.CharField(max_length=60, unique=True)
    version = models.PositiveBigIntegerField(default=0)
    # Random per row, so a database rebuilt from scratch never matches an old copy's counts.
    token = models.UUIDField(default=uuid.uuid4, editable=False)

    def __str__(self) -> str:
        return f"{self.table} v{self.version}"
