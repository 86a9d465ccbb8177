"""Forms for editing scorecards in the browser. Validation messages say what is wrong."""

from __future__ import annotations

from typing import Any

from django import forms

from crm_scorecard.accounts.models import Department
from crm_scorecard.metrics.api import DIMENSIONS, registry
from crm_scorecard.scorecards import comments as cm
from crm_scorecard.scorecards import mapping
from crm_scorecard.scorecards.models import Goal, Indicator, Initiative, Scorecard


class ScorecardForm(forms.ModelForm):
    class Meta:
        model = Scorecard
        fields = ["name", "mission", "green", "yellow"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        green, yellow = data.get("green"), data.get("yellow")
        if green is not None and yellow is not None and not (0 <= yellow <= green <= 1):
            raise forms.ValidationError("Thresholds must satisfy 0 ≤ yellow ≤ green ≤ 1.")
        return data


class GoalForm(forms.ModelForm):
    class Meta:
        model = Goal
        fields = ["perspective", "parent", "name", "weight"]

    def __init__(self, *args: Any, scorecard: Scorecard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["perspective"].queryset = scorecard.perspectives.all()  # type: ignore[attr-defined]
        self.fields["parent"].queryset = Goal.objects.filter(perspective__scorecard=scorecard)  # type: ignore[attr-defined]
        self.fields["parent"].required = False

    def clean_weight(self) -> float:
        weight = self.cleaned_data["weight"]
        if weight < 0:
            raise forms.ValidationError("A weight cannot be negative.")
        return float(weight)


def metric_choices() -> list[tuple[str, str]]:
    return [("", "— manual values —")] + [(m.key, f"{m.name} ({m.key})") for m in registry()]


def dimension_choices() -> list[tuple[str, str]]:
    """Read when the form is drawn: a metrics file (METRICS_FILE) may add dimensions."""
    return [("", "— none —")] + [(d, d) for d in DIMENSIONS]


class IndicatorForm(forms.ModelForm):
    metric = forms.ChoiceField(required=False, choices=metric_choices)
    scope = forms.ChoiceField(
        required=False,
        choices=Indicator.Scope.choices,
        help_text="Whose numbers: this department with its sub-departments (default), or the "
        "whole company (executives only).",
    )
    filter_dimension = forms.ChoiceField(required=False, choices=dimension_choices)

    class Meta:
        model = Indicator
        fields = list(mapping.DEFINITION)  # the indicator's fields, declared once

    # What is measured first, then how it is scored (the rest in mapping.DEFINITION's order).
    field_order = ["name", "metric", "scope", "filter_dimension", "filter_value"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        green, yellow = data.get("green"), data.get("yellow")
        if (green is None) != (yellow is None):
            raise forms.ValidationError("Give both the green and the yellow threshold, or neither.")
        if green is not None and yellow is not None and not (0 <= yellow <= green <= 1):
            self.add_error("green", "Thresholds must satisfy 0 ≤ yellow ≤ green ≤ 1.")
        if data.get("weight") is not None and data["weight"] < 0:
            self.add_error("weight", "A weight cannot be negative.")
        data["scope"] = data.get("scope") or Indicator.Scope.DEPARTMENT
        if data.get("filter_dimension") and not data.get("filter_value"):
            self.add_error("filter_value", "Give the value to filter on.")
        return data


class ManualValueForm(forms.Form):
    period = forms.RegexField(
        regex=r"^\d{4}-(0[1-9]|1[0-2])$", error_messages={"invalid": "Use a month like 2026-03."}
    )
    value = forms.FloatField()


class LinkForm(forms.Form):
    cause = forms.ModelChoiceField(queryset=Goal.objects.none(), label="This goal (cause)")
    effect = forms.ModelChoiceField(queryset=Goal.objects.none(), label="drives this goal (effect)")

    def __init__(self, *args: Any, scorecard: Scorecard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        goals = Goal.objects.filter(perspective__scorecard=scorecard)
        self.fields["cause"].queryset = goals  # type: ignore[attr-defined]
        self.fields["effect"].queryset = goals  # type: ignore[attr-defined]


class InitiativeForm(forms.ModelForm):
    class Meta:
        model = Initiative
        fields = ["name", "owner", "start", "due", "budget", "status"]
        widgets = {
            "start": forms.DateInput(attrs={"type": "date"}),
            "due": forms.DateInput(attrs={"type": "date"}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("start") and data.get("due") and data["due"] < data["start"]:
            self.add_error("due", "The due date is before the start.")
        return data


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A scorecard YAML file (see the README).")
    replace = forms.BooleanField(
        required=False, help_text="Replace this department's scorecard of the same name."
    )
    department: forms.ModelChoiceField = forms.ModelChoiceField(queryset=Department.objects.none())

    def __init__(self, *args: Any, departments: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments  # type: ignore[attr-defined]


class TemplateForm(forms.Form):
    template = forms.ChoiceField(choices=())
    department: forms.ModelChoiceField = forms.ModelChoiceField(queryset=Department.objects.none())

    def __init__(
        self, *args: Any, departments: Any, templates: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments  # type: ignore[attr-defined]
        self.fields["template"].choices = templates  # type: ignore[attr-defined]


class CommentForm(forms.Form):
    period = forms.CharField(
        max_length=7, widget=forms.TextInput(attrs={"placeholder": "2026-03", "size": 8})
    )
    text = forms.CharField(
        max_length=cm.MAX_LENGTH,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "e.g. dip due to the warehouse move"}
        ),
    )
