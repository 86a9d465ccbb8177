"""The form for a new personal API token. It parses; `accounts.services.token_create` decides
(a name it refuses or a lifetime outside the site's limit comes back as its message)."""

from __future__ import annotations

from typing import Any

from django import forms

from crm_scorecard.accounts.services import TOKEN_DAYS, token_max_days


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. 'ERP sync'. Only you see it."
    )
    days = forms.IntegerField(required=False, label="Works for (days)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        longest = token_max_days()  # the site's setting, read when the form is drawn
        days = self.fields["days"]
        days.widget.attrs.update({"min": 1, "max": longest, "placeholder": TOKEN_DAYS})
        days.help_text = f"{TOKEN_DAYS} if left empty; at most {longest}."
