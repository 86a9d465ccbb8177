"""Forms for logging a complaint and moving it along. They parse; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms

from crm_scorecard.accounts.models import Department
from crm_scorecard.crm.models import (
    ComplaintCategory,
    ComplaintStatus,
    Customer,
    Interaction,
    Order,
    Severity,
)


class ComplaintLogForm(forms.Form):
    category = forms.ChoiceField(choices=ComplaintCategory.choices)
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.MEDIUM)
    department = forms.ModelChoiceField(
        queryset=Department.objects.all(),
        label="Department responsible",
        help_text="The department whose queue it goes to (any department).",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=5000)
    order = forms.ModelChoiceField(
        queryset=Order.objects.none(), required=False, label="About the order"
    )
    interaction = forms.ModelChoiceField(
        queryset=Interaction.objects.none(), required=False, label="About the contact"
    )

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["order"].queryset = customer.orders.order_by("-ordered_at")  # type: ignore[attr-defined]
        self.fields["order"].label_from_instance = (  # type: ignore[attr-defined]
            lambda o: f"{o.external_id} · {o.ordered_at:%Y-%m-%d}"
        )
        self.fields["interaction"].queryset = customer.interactions.order_by("-started_at")  # type: ignore[attr-defined]
        self.fields["interaction"].label_from_instance = (  # type: ignore[attr-defined]
            lambda i: f"{i.get_channel_display()} {i.started_at:%Y-%m-%d %H:%M}"
        )


class ComplaintMoveForm(forms.Form):
    """A step and a note; an empty step adds the note alone. Any status parses here, so a
    move the complaint cannot make is refused by the service with its reason."""

    to_status = forms.ChoiceField(
        label="Step", required=False, choices=[("", "Add a note only"), *ComplaintStatus.choices]
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000
    )
