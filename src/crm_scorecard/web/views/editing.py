"""Every page that changes a scorecard: one generic edit view (`Edit`), declared once per
object by what differs (how the object is found, the form, the service that saves it, who
may, where to go next). New scorecards, from a file or a template, are edits too: of the
set of departments a manager may give a scorecard to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from crm_scorecard.accounts.models import Level
from crm_scorecard.accounts.scope import departments_for
from crm_scorecard.errors import Invalid
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards import services as svc
from crm_scorecard.scorecards.initiatives import initiative_create
from crm_scorecard.scorecards.models import Goal, Indicator, Scorecard
from crm_scorecard.scorecards.templates import template_install, template_load, template_names

from .. import forms
from .shared import goal_in_scorecard

Data = Any  # the request's POST (or FILES) on a POST, None on a GET


@dataclass(frozen=True)
class Edit[T]:
    """A page that changes one kind of object; the instance is the view. It finds the
    object within the user's departments (`find` raises `NotFound` outside them), refuses
    a user who may not change it (403), binds the form to the POST and saves through the
    service. A refusal, by the form, the service (`Invalid`) or a model's rules
    (`ValidationError`), shows the form again with the reason and answers 400."""

    find: Callable[..., T]  # (request, **the URL's arguments) -> the object
    scorecard: Callable[[T], Scorecard | None]  # whose scorecard the object is part of
    form: Callable[[T, Data, Data], BaseForm]  # (object, POST, FILES) -> the form
    save: Callable[[HttpRequest, T, Any], Any]  # (request, object, valid form) -> what was saved
    then: Callable[[T, Any], HttpResponse]  # (object, what was saved) -> where to go next
    title: Callable[[T], str]
    may: Callable[[HttpRequest, T], bool] | None = None  # default: may edit its scorecard
    refused: str = "Only a manager of this department may change its scorecard."
    saved: Callable[[Any, Any], str | None] = lambda form, done: "Saved."
    error_field: str | None = None  # the form field a refusal is shown on (None: the form's)
    multipart: bool = False
    page: Callable[[HttpRequest, T, Any, int], HttpResponse] | None = None  # default: form.html

    def __call__(self, request: HttpRequest, **url: Any) -> HttpResponse:
        thing = self.find(request, **url)
        if not self._may(request, thing):
            raise PermissionDenied(self.refused)
        posted = request.method == "POST"
        form = self.form(thing, request.POST if posted else None, request.FILES or None)
        if posted and form.is_valid():
            try:
                done = self.save(request, thing, form)
            except Invalid as exc:
                form.add_error(self.error_field, str(exc))
            except ValidationError as exc:
                form.add_error(self.error_field, "; ".join(exc.messages))
            else:
                text = self.saved(form, done)
                if text:
                    messages.success(request, text)
                return self.then(thing, done)
        status = 400 if posted else 200
        if self.page is not None:
            return self.page(request, thing, form, status)
        context = {
            "scorecard": self.scorecard(thing),
            "title": self.title(thing),
            "form": form,
            "multipart": self.multipart,
        }
        return render(request, "web/form.html", context, status=status)

    def _may(self, request: HttpRequest, thing: T) -> bool:
        if self.may is not None:
            return self.may(request, thing)
        scorecard = self.scorecard(thing)
        return scorecard is not None and sel.can_edit(user=request.user, scorecard=scorecard)


# ---- how each object is found, within the user's departments --------------------------------


def scorecard_at(request: HttpRequest, *, pk: int) -> Scorecard:
    return sel.scorecard_get(user=request.user, pk=pk)


def indicator_at(request: HttpRequest, *, pk: int) -> Indicator:
    return sel.indicator_get(user=request.user, pk=pk)


def goal_card(goal: Goal) -> Scorecard:
    return goal.perspective.scorecard


def indicator_card(indicator: Indicator) -> Scorecard:
    return indicator.goal.perspective.scorecard


def _to_dashboard(scorecard: Scorecard | None) -> HttpResponse:
    assert scorecard is not None
    return redirect("scorecard-detail", pk=scorecard.pk)


# ---- the scorecard's parts --------------------------------------------------------------------


def _goal_save(request: HttpRequest, _: Any, form: Any) -> Goal:
    return svc.goal_save(goal=form.save(commit=False))


def _indicator_save(request: HttpRequest, _: Any, form: Any) -> Indicator:
    return svc.indicator_save(indicator=form.save(commit=False), actor=request.user)


scorecard_edit: Edit[Scorecard] = Edit(
    find=scorecard_at,
    scorecard=lambda s: s,
    form=lambda s, data, _: forms.ScorecardForm(data, instance=s),
    save=lambda request, s, f: svc.scorecard_save(scorecard=f.save(commit=False)),
    then=lambda s, _: _to_dashboard(s),
    title=lambda s: f"Edit scorecard: {s.name}",
)

goal_new: Edit[Scorecard] = Edit(
    find=scorecard_at,
    scorecard=lambda s: s,
    form=lambda s, data, _: forms.GoalForm(data, scorecard=s),
    save=_goal_save,
    then=lambda s, _: _to_dashboard(s),
    title=lambda s: "New goal",
)

goal_edit: Edit[Goal] = Edit(
    find=goal_in_scorecard,
    scorecard=goal_card,
    form=lambda g, data, _: forms.GoalForm(data, instance=g, scorecard=goal_card(g)),
    save=_goal_save,
    then=lambda g, _: _to_dashboard(goal_card(g)),
    title=lambda g: f"Edit goal: {g.name}",
)

indicator_edit: Edit[Indicator] = Edit(
    find=indicator_at,
    scorecard=indicator_card,
    form=lambda i, data, _: forms.IndicatorForm(data, instance=i),
    save=_indicator_save,
    then=lambda i, _: _to_dashboard(indicator_card(i)),
    title=lambda i: f"Edit indicator: {i.name}" if i.pk else f"New indicator for {i.goal.name}",
)

# A new indicator is edited like one that exists: it starts unsaved, under its goal.
indicator_new: Edit[Indicator] = replace(
    indicator_edit, find=lambda request, **url: Indicator(goal=goal_in_scorecard(request, **url))
)

link_new: Edit[Scorecard] = Edit(
    find=scorecard_at,
    scorecard=lambda s: s,
    form=lambda s, data, _: forms.LinkForm(data, scorecard=s),
    save=lambda request, s, f: svc.link_create(
        scorecard=s, cause=f.cleaned_data["cause"], effect=f.cleaned_data["effect"]
    ),
    then=lambda s, _: redirect("strategy-map", pk=s.pk),
    title=lambda s: "New cause → effect link",
)


initiative_new: Edit[Goal] = Edit(
    find=goal_in_scorecard,
    scorecard=goal_card,
    form=lambda g, data, _: forms.InitiativeForm(data),
    save=lambda request, g, f: initiative_create(goal=g, **f.cleaned_data),
    then=lambda g, _: redirect("goal-detail", pk=g.perspective.scorecard_id, goal_pk=g.pk),
    title=lambda g: f"New initiative for {g.name}",
)


# ---- new scorecards: given to one of the manager's departments ------------------------------


def _departments(request: HttpRequest) -> Any:
    return departments_for(user=request.user)


def _is_manager(request: HttpRequest, _: Any) -> bool:
    return getattr(request.user, "level", None) == Level.MANAGER


def _templates() -> list[tuple[str, str]]:
    return [(n, template_load(n).name) for n in template_names()]


def _import(request: HttpRequest, _: Any, form: Any) -> Scorecard:
    upload = form.cleaned_data["file"]
    # Read one byte past the limit, never the whole upload, to tell it is too big.
    card = files.loads(upload.read(files.MAX_BYTES + 1), source=upload.name)
    return svc.scorecard_import(
        card=card,
        department=form.cleaned_data["department"],
        replace=form.cleaned_data["replace"],
        actor=request.user,
    )


scorecard_import: Edit[Any] = Edit(
    find=_departments,
    scorecard=lambda _: None,
    may=_is_manager,
    refused="Only managers create scorecards.",
    form=lambda d, data, upload: forms.ImportForm(data, upload, departments=d),
    save=_import,
    then=lambda _, scorecard: _to_dashboard(scorecard),
    saved=lambda form, scorecard: f"Imported {scorecard.name}.",
    title=lambda _: "Import a scorecard file",
    error_field="file",
    multipart=True,
)

template_install_view: Edit[Any] = Edit(
    find=_departments,
    scorecard=lambda _: None,
    may=_is_manager,
    refused="Only managers create scorecards.",
    form=lambda d, data, _: forms.TemplateForm(data, departments=d, templates=_templates()),
    save=lambda request, _, f: template_install(
        name=f.cleaned_data["template"],
        department=f.cleaned_data["department"],
        actor=request.user,
    ),
    then=lambda _, scorecard: _to_dashboard(scorecard),
    saved=lambda form, scorecard: None,
    title=lambda _: "Install a template",
)


def scorecard_new(request: HttpRequest) -> HttpResponse:
    """The two ways to a new scorecard, side by side: a file, or a template."""
    if not _is_manager(request, None):
        raise PermissionDenied("Only managers create scorecards.")
    departments = _departments(request)
    return render(
        request,
        "web/scorecard_new.html",
        {
            "form": forms.ImportForm(departments=departments),
            "template_form": forms.TemplateForm(departments=departments, templates=_templates()),
        },
    )
