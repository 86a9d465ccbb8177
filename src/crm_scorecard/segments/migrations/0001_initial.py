import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0002_api_token"),
        ("crm", "0005_search_trigram"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RfmScore",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("as_of", models.DateField()),
                (
                    "recency_days",
                    models.PositiveIntegerField(
                        blank=True, help_text="Days from the last purchase to the date.", null=True
                    ),
                ),
                (
                    "frequency",
                    models.PositiveIntegerField(
                        default=0, help_text="Days with a purchase, up to the date."
                    ),
                ),
                (
                    "monetary",
                    models.DecimalField(
                        decimal_places=2,
                        default=0,
                        help_text="Revenue up to the date.",
                        max_digits=16,
                    ),
                ),
                ("r", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("f", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("m", models.PositiveSmallIntegerField(blank=True, null=True)),
                (
                    "segment",
                    models.CharField(
                        choices=[
                            ("champions", "Champions"),
                            ("loyal", "Loyal"),
                            ("potential_loyalists", "Potential loyalists"),
                            ("new", "New customers"),
                            ("promising", "Promising"),
                            ("need_attention", "Need attention"),
                            ("about_to_sleep", "About to sleep"),
                            ("at_risk", "At risk"),
                            ("cant_lose", "Can't lose them"),
                            ("hibernating", "Hibernating"),
                            ("lost", "Lost"),
                            ("no_purchases", "No purchases"),
                        ],
                        max_length=24,
                    ),
                ),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rfm_scores",
                        to="crm.customer",
                    ),
                ),
            ],
            options={
                "ordering": ["-as_of", "customer"],
                "indexes": [
                    models.Index(fields=["customer", "as_of"], name="rfm_customer_as_of"),
                    models.Index(fields=["as_of", "segment"], name="rfm_as_of_segment"),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("as_of", "customer"), name="rfm_one_per_date"),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("r__isnull", True), ("f__isnull", True), ("m__isnull", True)),
                            models.Q(
                                ("r__gte", 1),
                                ("r__lte", 5),
                                ("f__gte", 1),
                                ("f__lte", 5),
                                ("m__gte", 1),
                                ("m__lte", 5),
                            ),
                            _connector="OR",
                        ),
                        name="rfm_scores_1_5_or_none",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="SavedSegment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=80, unique=True)),
                (
                    "filters",
                    models.JSONField(
                        default=dict,
                        help_text='{"field": "value", ...}: every condition must hold.',
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "department",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="saved_segments",
                        to="accounts.department",
                    ),
                ),
            ],
            options={"ordering": ["name"]},
        ),
    ]
