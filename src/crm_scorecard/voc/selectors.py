"""Reads of the affinity diagram, always within what the acting user may see.

A department sees the themes assigned to it or to a department below it, with every comment
in them; executives see every theme, unassigned ones too. The command line acts as an
operator (`user=None`) and sees everything."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import Coalesce, RowNumber, TruncMonth

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.accounts.scope import Actor, restrict, visible_department_ids
from crm_scorecard.errors import NotFound

from .models import CommentKind, Theme, ThemeChange, ThemeMember

NEGATIVE_RATING = 2  # a rating of 1 or 2 (of 5) is a negative one
CARDS_PER_THEME = 60  # the board shows the newest cards of each theme; the count says the rest


def themes_visible(*, user: Actor | None) -> QuerySet[Theme]:
    """The themes the user may see (the operator, `None`: all)."""
    qs = Theme.objects.select_related("department")
    return qs if user is None else restrict(qs, user=user)


def theme_get(*, user: Actor | None, pk: int) -> Theme:
    """A theme the user may see; any other answers 404, like one that does not exist."""
    found = themes_visible(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFound("No such theme.")
    return found


def member_get(*, user: Actor | None, pk: int) -> ThemeMember:
    """A comment on a theme the user may see; any other answers 404."""
    found = (
        ThemeMember.objects.select_related("theme__department")
        .filter(pk=pk, theme__in=themes_visible(user=user))
        .first()
    )
    if found is None:
        raise NotFound("No such comment.")
    return found


def editable_department_ids(*, user: Actor | None) -> set[int] | None:
    """Departments whose themes the user may change: None for all (the operator and
    executives, who hand unassigned themes to departments), a manager's own departments and
    those below them, nothing for anyone else."""
    if user is None:
        return None
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return set()
    if user.level == Level.EXECUTIVE or user.is_superuser:
        return None
    if user.level != Level.MANAGER:
        return set()
    return visible_department_ids(user=user) or set()


def can_edit_theme(*, user: Actor | None, theme: Theme) -> bool:
    ids = editable_department_ids(user=user)
    return ids is None or (theme.department_id is not None and theme.department_id in ids)


def can_edit_any(*, user: Actor | None) -> bool:
    ids = editable_department_ids(user=user)
    return ids is None or bool(ids)


def departments_assignable(*, user: Actor | None) -> QuerySet[Department]:
    """The departments the user may hand a theme to."""
    ids = editable_department_ids(user=user)
    qs = Department.objects.order_by("name")
    return qs if ids is None else qs.filter(pk__in=ids)


def _comment_date() -> Any:
    return Coalesce(F("feedback__submitted_at"), F("complaint__opened_at"))


@dataclass
class ThemeStats:
    """What a theme amounts to: how many comments, the share of them rated negatively (of
    those with a rating; None: no rated comment, not zero) and comments per month."""

    count: int = 0
    rated: int = 0
    negative: int = 0
    months: dict[date, int] = field(default_factory=dict)

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.rated if self.rated else None


def theme_stats(*, themes: QuerySet[Theme]) -> dict[int, ThemeStats]:
    """Each theme's count, negative share and monthly trend, in two queries."""
    stats: dict[int, ThemeStats] = {}
    rows = (
        ThemeMember.objects.filter(theme__in=themes)
        .values("theme")
        .annotate(
            count=Count("pk"),
            rated=Count("pk", filter=Q(feedback__rating__isnull=False)),
            negative=Count("pk", filter=Q(feedback__rating__lte=NEGATIVE_RATING)),
        )
        .order_by()
    )
    for row in rows:
        stats[row["theme"]] = ThemeStats(row["count"], row["rated"], row["negative"])
    monthly = (
        ThemeMember.objects.filter(theme__in=themes)
        .annotate(month=TruncMonth(_comment_date()))
        .values("theme", "month")
        .annotate(n=Count("pk"))
        .order_by("theme", "month")
    )
    for theme_id, month, n in monthly.values_list("theme", "month", "n"):
        day = month.date() if isinstance(month, datetime) else month
        stats.setdefault(theme_id, ThemeStats()).months[day] = n
    return stats


@dataclass
class Card:
    """One comment on the board."""

    member: ThemeMember
    kind: str
    external_id: str
    text: str
    customer: str
    customer_id: str
    when: datetime
    rating: int | None


@dataclass
class Column:
    theme: Theme
    stats: ThemeStats
    cards: list[Card]
    can_edit: bool

    @property
    def hidden(self) -> int:
        return max(0, self.stats.count - len(self.cards))


def _card(member: ThemeMember) -> Card:
    if member.kind == CommentKind.FEEDBACK:
        f = member.feedback
        assert f is not None
        return Card(
            member,
            member.kind,
            f.external_id,
            f.comment,
            f.customer.full_name,
            f.customer.external_id,
            f.submitted_at,
            f.rating,
        )
    k = member.complaint
    assert k is not None
    return Card(
        member,
        member.kind,
        k.external_id,
        k.description,
        k.customer.full_name,
        k.customer.external_id,
        k.opened_at,
        None,
    )


def _columns(*, user: Actor, themes: QuerySet[Theme], per_theme: int | None) -> list[Column]:
    """Columns of the given (already scoped) themes, largest first, with their newest
    comments (`per_theme` of them, or all). A fixed number of queries."""
    listed = list(themes)
    stats = theme_stats(themes=themes)
    ranked = (
        ThemeMember.objects.filter(theme__in=themes)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("theme_id")],
                order_by=[_comment_date().desc(), F("pk").desc()],
            )
        )
        .select_related("feedback__customer", "complaint__customer")
        .order_by("theme_id", "rank")
    )
    if per_theme is not None:
        ranked = ranked.filter(rank__lte=per_theme)
    cards: dict[int, list[Card]] = {}
    for member in ranked:
        cards.setdefault(member.theme_id, []).append(_card(member))
    columns = [
        Column(
            theme=t,
            stats=stats.get(t.pk, ThemeStats()),
            cards=cards.get(t.pk, []),
            can_edit=can_edit_theme(user=user, theme=t),
        )
        for t in listed
    ]
    columns.sort(key=lambda c: (-c.stats.count, c.theme.label.lower(), c.theme.pk))
    return columns


def board(*, user: Actor, per_theme: int = CARDS_PER_THEME) -> list[Column]:
    """The affinity diagram as the user may see it: a column per theme, largest first, with
    its newest comments."""
    return _columns(user=user, themes=themes_visible(user=user), per_theme=per_theme)


def theme_column(*, user: Actor, theme: Theme) -> Column:
    """One theme the user may see, with all its comments (404 for any other)."""
    scoped = themes_visible(user=user).filter(pk=theme.pk)
    found = _columns(user=user, themes=scoped, per_theme=None)
    if not found:
        raise NotFound("No such theme.")
    return found[0]


def theme_history(*, user: Actor, limit: int = 30) -> list[ThemeChange]:
    """The latest changes to the themes the user may see."""
    return list(
        ThemeChange.objects.filter(theme__in=themes_visible(user=user))
        .select_related("actor", "theme")
        .order_by("-at", "-pk")[:limit]
    )


def themes_summary(*, user: Actor | None) -> list[dict[str, Any]]:
    """Each theme as `voc themes --json` prints it."""
    themes = themes_visible(user=user)
    stats = theme_stats(themes=themes)
    rows: list[dict[str, Any]] = []
    for t in themes:
        s = stats.get(t.pk, ThemeStats())
        rows.append(
            {
                "id": t.pk,
                "label": t.label,
                "department": t.department.name if t.department else None,
                "count": s.count,
                "negative_share": s.negative_share,
                "months": {f"{d:%Y-%m}": n for d, n in sorted(s.months.items())},
            }
        )
    rows.sort(key=lambda r: (-r["count"], r["label"].lower(), r["id"]))
    return rows


def grouped_comments(*, user: Actor | None) -> list[dict[str, Any]]:
    """Every grouped comment as `voc export --json` prints it."""
    members = (
        ThemeMember.objects.filter(theme__in=themes_visible(user=user))
        .select_related("theme__department")
        .annotate(
            external_id=Coalesce(F("feedback__external_id"), F("complaint__external_id")),
        )
        .order_by("theme_id", "pk")
    )
    return [
        {
            "kind": m.kind,
            "id": m.external_id,  # type: ignore[attr-defined]
            "theme": m.theme.label,
            "theme_id": m.theme_id,
            "department": m.theme.department.name if m.theme.department else None,
        }
        for m in members
    ]
