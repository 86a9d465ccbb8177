"""The form that schedules a scorecard's report emails (web.views.jobs)."""

from __future__ import annotations

from typing import Any

from django import forms

from crm_scorecard.accounts.models import User
from crm_scorecard.jobs.models import Frequency, ReportFormat
from crm_scorecard.jobs.selectors import report_recipients
from crm_scorecard.metrics.api import DIMENSIONS
from crm_scorecard.scorecards.models import Scorecard


class ScheduledReportForm(forms.Form):
    format = forms.ChoiceField(choices=ReportFormat.choices, initial=ReportFormat.PDF)
    frequency = forms.ChoiceField(choices=Frequency.choices, initial=Frequency.MONTHLY)
    breakdown = forms.ChoiceField(
        required=False,
        label="Breakdown (optional)",
        help_text="each metric indicator broken down by this dimension, within what each "
        "recipient may see",
    )
    recipients: forms.ModelMultipleChoiceField = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),  # set per scorecard below
        widget=forms.CheckboxSelectMultiple,
        help_text="people who see this scorecard; each gets it as they see it",
    )

    def __init__(self, *args: Any, scorecard: Scorecard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        recipients = self.fields["recipients"]
        assert isinstance(recipients, forms.ModelMultipleChoiceField)
        recipients.queryset = report_recipients(scorecard=scorecard)
        recipients.label_from_instance = _who  # type: ignore[method-assign,assignment]
        breakdown = self.fields["breakdown"]
        assert isinstance(breakdown, forms.ChoiceField)
        breakdown.choices = [("", "— none —"), *((d, d) for d in DIMENSIONS)]


def _who(user: User) -> str:
    return f"{user.get_full_name() or user.username} ({user.username}, {user.email or 'no email address'})"
