"""What a saved segment may filter on, and how: the customer's own fields and their latest
RFM segment. Each field is named as the metrics engine names the dimension, so a saved
segment is, as a metric filter, exactly its fields' filters."""

from __future__ import annotations

from datetime import date

from django.db.models import OuterRef, Q, QuerySet, Subquery

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.scope import descendant_ids
from crm_scorecard.crm.ages import AGE_BRACKETS, AGE_LABELS
from crm_scorecard.crm.models import Customer
from crm_scorecard.errors import Invalid

from .models import RfmScore, RfmSegment

# The customer's own text fields a saved segment may ask to equal a value.
TEXT_FIELDS = ("region", "country", "city", "segment", "acquisition_channel")
FIELDS = (*TEXT_FIELDS, "age_bracket", "department", "rfm_segment")
ALIASES = {"rfm": "rfm_segment"}


def clean_filters(filters: dict[str, str]) -> dict[str, str]:
    """The filters with each field named as FIELDS names it; refused with the field and
    the reason when a field or value cannot be used."""
    if not isinstance(filters, dict) or not filters:
        raise Invalid("filters: give at least one FIELD=VALUE")
    cleaned: dict[str, str] = {}
    for raw, value in filters.items():
        field = ALIASES.get(raw, raw)
        if field not in FIELDS:
            raise Invalid(f"filter {raw!r}: unknown field; fields are {', '.join(FIELDS)}")
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            raise Invalid(f"filter {raw}: give a value (text, no NUL character)")
        if field == "rfm_segment" and value not in RfmSegment.values:
            raise Invalid(
                f"filter {raw}: unknown RFM segment {value!r}; segments are "
                f"{', '.join(RfmSegment.values)}"
            )
        if field == "age_bracket" and value not in AGE_LABELS:
            raise Invalid(f"filter {raw}: brackets are {', '.join(AGE_LABELS)}")
        if field == "department" and not Department.objects.filter(name=value).exists():
            raise Invalid(f"filter {raw}: no department named {value!r}")
        if field in cleaned and cleaned[field] != value:
            raise Invalid(f"filter {raw}: given twice with different values")
        cleaned[field] = value
    return cleaned


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def age_condition(label: str, *, today: date) -> Q:
    """Customers whose age today is in the bracket `label` (birth date known)."""
    lower = 0
    for limit, name in AGE_BRACKETS:
        if name == label:
            return Q(birth_date__gt=_years_before(today, limit)) & Q(
                birth_date__lte=_years_before(today, lower)
            )
        lower = limit
    return Q(birth_date__lte=_years_before(today, 65))


def latest_rfm_segment() -> Subquery:
    """The customer's segment in their latest stored RFM scores."""
    latest = RfmScore.objects.filter(customer=OuterRef("pk")).order_by("-as_of")
    return Subquery(latest.values("segment")[:1])


def customers_matching(
    customers: QuerySet[Customer], filters: dict[str, str], *, today: date
) -> QuerySet[Customer]:
    """`customers` narrowed to those every filter holds for."""
    qs = customers
    for field, value in filters.items():
        if field in TEXT_FIELDS:
            qs = qs.filter(**{field: value})
        elif field == "age_bracket":
            qs = qs.filter(age_condition(value, today=today))
        elif field == "department":
            roots = Department.objects.filter(name=value).values_list("pk", flat=True)
            qs = qs.filter(department__in=descendant_ids(roots=roots))
        elif field == "rfm_segment":
            qs = qs.alias(rfm_now=latest_rfm_segment()).filter(rfm_now=value)
    return qs
