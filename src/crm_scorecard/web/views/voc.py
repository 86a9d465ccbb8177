"""Voice of the customer pages: the affinity board (themes as columns of comment cards) and a
theme's page. Thin: parse the request, call the voc selectors and services, render.

Every change is a POST that saves at once: a form (works without JavaScript and from the
keyboard) answers with a redirect back to the board; the board's drag and drop (board.js)
sends the same form with `Accept: application/json` and gets JSON back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm_scorecard.accounts.scope import departments_for
from crm_scorecard.errors import Invalid, NotFound
from crm_scorecard.voc import selectors as sel
from crm_scorecard.voc import services as svc
from crm_scorecard.voc.models import Theme, ThemeMember

from .. import charts


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _done(request: HttpRequest, text: str, *, anchor: str = "", **data: Any) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": True, "message": text, **data})
    messages.success(request, text)
    return redirect(reverse("voc-board") + (f"#{anchor}" if anchor else ""))


def _refused(request: HttpRequest, exc: Invalid | ValidationError) -> HttpResponse:
    text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    if _wants_json(request):
        return JsonResponse({"ok": False, "message": text}, status=400)
    messages.error(request, text)
    return redirect("voc-board")


def _pk(request: HttpRequest, name: str) -> int | None:
    raw = request.POST.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationError(f"{name}: not a number.")
    return int(raw)


def _theme(request: HttpRequest, name: str) -> Theme:
    pk = _pk(request, name)
    if pk is None:
        raise ValidationError("Choose a theme.")
    return sel.theme_get(user=request.user, pk=pk)


def _department(request: HttpRequest) -> Any:
    """The department named by the form (None: unassigned). One the user cannot see answers
    404; one they see but may not hand themes to is refused by the service (403)."""
    pk = _pk(request, "department")
    if pk is None:
        return None
    found = departments_for(user=request.user).filter(pk=pk).first()
    if found is None:
        raise NotFound("No such department.")
    return found


def board(request: HttpRequest) -> HttpResponse:
    columns = sel.board(user=request.user)
    editable = [c.theme for c in columns if c.can_edit]
    return render(
        request,
        "web/voc_board.html",
        {
            "columns": [{"col": c, "trend": charts.theme_trend(c.stats.months)} for c in columns],
            "editable": editable,
            "departments": sel.departments_assignable(user=request.user),
            "can_create": sel.can_edit_any(user=request.user),
            "may_unassign": sel.editable_department_ids(user=request.user) is None,
            "history": sel.theme_history(user=request.user),
            "width": charts.TREND_MONTHS * (charts.BAR_W + charts.BAR_GAP),
            "bar_w": charts.BAR_W,
            "bar_h": charts.BAR_H,
        },
    )


def theme_detail(request: HttpRequest, pk: int) -> HttpResponse:
    theme = sel.theme_get(user=request.user, pk=pk)
    column = sel.theme_column(user=request.user, theme=theme)
    return render(
        request,
        "web/voc_theme.html",
        {
            "col": column,
            "trend": charts.theme_trend(column.stats.months),
            "bar_w": charts.BAR_W,
            "bar_h": charts.BAR_H,
        },
    )


def _theme_at(request: HttpRequest, *, pk: int) -> Theme:
    return sel.theme_get(user=request.user, pk=pk)


def _member_at(request: HttpRequest, *, pk: int) -> ThemeMember:
    return sel.member_get(user=request.user, pk=pk)


def _creating(request: HttpRequest) -> None:
    if not sel.can_edit_any(user=request.user):
        raise PermissionDenied("Only managers may create themes.")


def _change[T](
    find: Callable[..., T], act: Callable[[HttpRequest, T], HttpResponse]
) -> Callable[..., HttpResponse]:
    """A page that makes one change to the board: a POST; `find` looks up what it changes
    (404 outside the user's departments), `act` calls the service. A change the rules do
    not allow this user is refused by the service (403); a bad value answers 400 (JSON) or
    a message on the board."""

    @require_POST
    def view(request: HttpRequest, **url: Any) -> HttpResponse:
        thing = find(request, **url)
        try:
            return act(request, thing)
        except (Invalid, ValidationError) as exc:
            return _refused(request, exc)

    return view


def _create(request: HttpRequest, _: None) -> HttpResponse:
    theme = svc.theme_create(
        actor=request.user, label=request.POST.get("label", ""), department=_department(request)
    )
    return _done(request, f"Theme “{theme.label}” created.", anchor=f"theme-{theme.pk}")


def _rename(request: HttpRequest, theme: Theme) -> HttpResponse:
    svc.theme_rename(actor=request.user, theme=theme, label=request.POST.get("label", ""))
    return _done(request, f"Renamed to “{theme.label}”.", anchor=f"theme-{theme.pk}")


def _assign(request: HttpRequest, theme: Theme) -> HttpResponse:
    svc.theme_assign(actor=request.user, theme=theme, department=_department(request))
    where = theme.department.name if theme.department else "nobody"
    return _done(request, f"“{theme.label}” assigned to {where}.", anchor=f"theme-{theme.pk}")


def _merge(request: HttpRequest, theme: Theme) -> HttpResponse:
    into = _theme(request, "into")
    label = theme.label
    svc.theme_merge(actor=request.user, theme=theme, into=into)
    return _done(request, f"“{label}” merged into “{into.label}”.", anchor=f"theme-{into.pk}")


def _split(request: HttpRequest, theme: Theme) -> HttpResponse:
    ids = [int(x) for x in request.POST.getlist("members") if x.isdigit()]
    members = list(theme.members.filter(pk__in=ids))
    new = svc.theme_split(
        actor=request.user, theme=theme, members=members, label=request.POST.get("label", "")
    )
    return _done(
        request, f"{len(members)} comments split into “{new.label}”.", anchor=f"theme-{new.pk}"
    )


def _move(request: HttpRequest, member: ThemeMember) -> HttpResponse:
    target = _theme(request, "theme")
    svc.member_move(actor=request.user, member=member, theme=target)
    return _done(
        request,
        f"Comment {member.comment.external_id} moved to “{target.label}”.",
        anchor=f"theme-{target.pk}",
        theme=target.pk,
    )


theme_new = _change(_creating, _create)
theme_rename = _change(_theme_at, _rename)
theme_assign = _change(_theme_at, _assign)
theme_merge = _change(_theme_at, _merge)
theme_split = _change(_theme_at, _split)
comment_move = _change(_member_at, _move)
