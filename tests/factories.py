"""Test data builders."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import factory

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.crm import models as m


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Department {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    level = Level.AGENT
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def departments(self, create, extracted, **kwargs):
        if create and extracted:
            self.departments.set(extracted)
        if create:
            self.save()


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Employee

    external_id = factory.Sequence(lambda n: f"E{n:05d}")
    full_name = factory.Sequence(lambda n: f"Employee {n}")
    department = factory.SubFactory(DepartmentFactory)
    hired_at = date(2020, 1, 1)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Customer

    external_id = factory.Sequence(lambda n: f"C{n:06d}")
    full_name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    department = factory.SubFactory(DepartmentFactory)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Product

    sku = factory.Sequence(lambda n: f"SKU-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    category = "Devices"
    tier = m.ProductTier.STANDARD
    list_price = Decimal("10.00")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Order

    external_id = factory.Sequence(lambda n: f"O{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    ordered_at = datetime(2026, 1, 15, tzinfo=UTC)


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Interaction

    external_id = factory.Sequence(lambda n: f"I{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    department = factory.SelfAttribute("customer.department")
    channel = m.InteractionChannel.CALL
    started_at = datetime(2026, 1, 15, 10, tzinfo=UTC)
