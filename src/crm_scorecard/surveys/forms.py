"""The rating sheet a customer fills in, and the form an employee issues a link with."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from crm_scorecard.crm.models import Interaction, Order

from .models import SheetLanguage

COMMENT_MAX = 4000


class RatingSheetForm(forms.Form):
    """A customer's answer: a rating 1-5 (required), how likely they are to recommend us
    0-10 (may be left out: no answer is not a zero) and a comment."""

    rating = forms.TypedChoiceField(
        label=_("How satisfied are you with us overall?"),
        choices=[(n, str(n)) for n in range(1, 6)],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Please choose a rating from 1 to 5.")},
    )
    recommend = forms.TypedChoiceField(
        label=_("How likely are you to recommend us to a friend or colleague?"),
        choices=[(n, str(n)) for n in range(0, 11)],
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Anything you would like to tell us?"),
        required=False,
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


class RatingLinkForm(forms.Form):
    """What an employee chooses when issuing a link from the customer 360."""

    about = forms.ChoiceField(label="About", required=False)
    language = forms.ChoiceField(label="Language", choices=SheetLanguage.choices)
    send_email = forms.BooleanField(label="Email it to the customer", required=False)

    def __init__(
        self, *args: Any, orders: list[Order], interactions: list[Interaction], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.orders = {str(o.pk): o for o in orders}
        self.interactions = {str(i.pk): i for i in interactions}
        self.fields["about"].choices = [  # type: ignore[attr-defined]
            ("", "The customer in general"),
            *[
                (f"order:{o.pk}", f"Order {o.external_id} of {o.ordered_at:%Y-%m-%d}")
                for o in orders
            ],
            *[
                (f"contact:{i.pk}", f"{i.get_channel_display()} {i.started_at:%Y-%m-%d %H:%M}")
                for i in interactions
            ],
        ]
        self.fields["language"].initial = settings.RATING_SHEET_LANGUAGE

    def subject(self) -> dict[str, Any]:
        """The chosen order or contact, as rating_link_create's keyword arguments."""
        kind, _sep, pk = self.cleaned_data["about"].partition(":")
        if kind == "order":
            return {"order": self.orders[pk]}
        if kind == "contact":
            return {"interaction": self.interactions[pk]}
        return {}
