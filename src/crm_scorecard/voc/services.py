"""Changes to the affinity diagram. Each is atomic, checks that the actor may make it, and
leaves an audit row (who, when, what). `actor=None` is the operator at the command line."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm_scorecard.accounts.models import Department, User
from crm_scorecard.accounts.scope import Actor
from crm_scorecard.crm.changes import tables_touch
from crm_scorecard.errors import NotAllowed

from . import grouping
from .models import ChangeAction, CommentKind, Theme, ThemeChange, ThemeMember
from .selectors import can_edit_theme, editable_department_ids
from .signals import theme_relabelled

BATCH = 5000


def _user(actor: Actor | None) -> User | None:
    return actor if isinstance(actor, User) else None


def _require_edit(actor: Actor | None, *themes: Theme) -> None:
    for theme in themes:
        if not can_edit_theme(user=actor, theme=theme):
            raise NotAllowed("Only a manager of the theme's department may change it.")


def _require_department(actor: Actor | None, department: Department | None) -> None:
    ids = editable_department_ids(user=actor)
    if ids is None:
        return
    if department is None or department.pk not in ids:
        raise NotAllowed("You may hand themes only to your own departments.")


def _audit(actor: Actor | None, action: str, theme: Theme | None, **detail: Any) -> ThemeChange:
    change = ThemeChange(actor=_user(actor), action=action, theme=theme, detail=detail)
    change.full_clean()
    change.save()
    return change


def _save(theme: Theme) -> None:
    theme.updated_at = timezone.now()
    theme.full_clean()
    theme.save()


def _relabelled(theme: Theme | None, labels: dict[str, str]) -> None:
    """Tell the layers above that what was counted under each label before is now under the
    label after (scorecards move their indicators' `voc_theme` filters; see `signals`)."""
    labels = {before: after for before, after in labels.items() if before != after}
    if labels:
        theme_relabelled.send(sender=Theme, theme=theme, labels=labels)


def _clean_label(label: str) -> str:
    text = " ".join(label.split())
    if not text:
        raise ValidationError({"label": "A theme needs a label."})
    return text


@transaction.atomic
def theme_create(*, actor: Actor | None, label: str, department: Department | None) -> Theme:
    """A new, empty theme a person names (cards are then moved into it)."""
    _require_department(actor, department)
    theme = Theme(
        label=_clean_label(label),
        department=department,
        named_by_person=True,
        created_by=_user(actor),
    )
    _save(theme)
    _audit(
        actor,
        ChangeAction.CREATE,
        theme,
        label=theme.label,
        department=department.name if department else None,
    )
    tables_touch(Theme)
    return theme


@transaction.atomic
def theme_rename(*, actor: Actor | None, theme: Theme, label: str) -> Theme:
    """Give a theme the name people use for it; grouping keeps it from now on."""
    _require_edit(actor, theme)
    before = theme.label
    theme.label = _clean_label(label)
    theme.named_by_person = True
    _save(theme)
    _audit(actor, ChangeAction.RENAME, theme, before=before, after=theme.label)
    tables_touch(Theme)
    _relabelled(theme, {before: theme.label})
    return theme


@transaction.atomic
def theme_assign(*, actor: Actor | None, theme: Theme, department: Department | None) -> Theme:
    """Hand a theme to the department that acts on it (None: unassigned again)."""
    _require_edit(actor, theme)
    _require_department(actor, department)
    before = theme.department.name if theme.department else None
    theme.department = department
    _save(theme)
    _audit(
        actor,
        ChangeAction.ASSIGN,
        theme,
        before=before,
        after=department.name if department else None,
    )
    tables_touch(Theme)
    return theme


@transaction.atomic
def theme_merge(*, actor: Actor | None, theme: Theme, into: Theme) -> Theme:
    """Put every comment of `theme` into `into` and remove `theme`: the two say one thing."""
    if theme.pk == into.pk:
        raise ValidationError("A theme cannot be merged into itself.")
    _require_edit(actor, theme, into)
    moved = ThemeMember.objects.filter(theme=theme).update(
        theme=into, placed_by_person=True, placed_at=timezone.now()
    )
    _audit(
        actor,
        ChangeAction.MERGE,
        into,
        merged=theme.label,
        merged_id=theme.pk,
        into=into.label,
        comments=moved,
    )
    ThemeChange.objects.filter(theme=theme).update(theme=into)
    merged = theme.label
    theme.delete()
    _save(into)
    tables_touch(Theme, ThemeMember)
    _relabelled(into, {merged: into.label})
    return into


@transaction.atomic
def theme_split(
    *, actor: Actor | None, theme: Theme, members: Sequence[ThemeMember], label: str
) -> Theme:
    """Take some comments out of `theme` into a new theme of the same department."""
    _require_edit(actor, theme)
    ids = sorted({m.pk for m in members if m.theme_id == theme.pk})
    if not ids:
        raise ValidationError("Choose at least one comment of this theme to split off.")
    new = Theme(
        label=_clean_label(label),
        department=theme.department,
        named_by_person=True,
        created_by=_user(actor),
    )
    _save(new)
    ThemeMember.objects.filter(pk__in=ids).update(
        theme=new, placed_by_person=True, placed_at=timezone.now()
    )
    _audit(
        actor,
        ChangeAction.SPLIT,
        new,
        source=theme.label,
        source_id=theme.pk,
        label=new.label,
        comments=len(ids),
    )
    tables_touch(Theme, ThemeMember)
    return new


@transaction.atomic
def member_move(*, actor: Actor | None, member: ThemeMember, theme: Theme) -> ThemeMember:
    """Move one comment to another theme; it stays there when grouping runs again."""
    source = member.theme
    _require_edit(actor, source, theme)
    if source.pk == theme.pk:
        return member
    member.theme = theme
    member.placed_by_person = True
    member.placed_at = timezone.now()
    member.full_clean()
    member.save()
    _audit(
        actor,
        ChangeAction.MOVE,
        theme,
        comment=member.comment.external_id,
        kind=member.kind,
        source=source.label,
        source_id=source.pk,
        to=theme.label,
    )
    tables_touch(ThemeMember)
    return member


def comments_group(
    *,
    source: str = "all",
    since: date | None = None,
    themes: int | None = None,
    embeddings: bool | None = None,
    progress: grouping.Progress = lambda n: None,
) -> grouping.Plan:
    """Run the grouping (see `grouping`) and write what it decided in one transaction:
    new themes, new comments in existing themes, refreshed machine labels, one audit row."""
    comments = grouping.comments_load(source=source, since=since)
    existing: dict[tuple[str, int], int] = {}
    for kind, feedback_id, complaint_id, theme_id in ThemeMember.objects.values_list(
        "kind", "feedback_id", "complaint_id", "theme_id"
    ).iterator(chunk_size=20_000):
        existing[(kind, feedback_id if kind == CommentKind.FEEDBACK else complaint_id)] = theme_id
    named = set(Theme.objects.filter(named_by_person=True).values_list("pk", flat=True))
    result = grouping.plan(
        comments,
        existing=existing,
        named=named,
        themes=themes,
        embeddings=embeddings,
        progress=progress,
    )
    _plan_apply(result, source=source, since=since)
    return result


def _member(theme_id: int, comment: grouping.Comment) -> ThemeMember:
    is_feedback = comment.kind == CommentKind.FEEDBACK
    return ThemeMember(
        theme_id=theme_id,
        kind=comment.kind,
        feedback_id=comment.pk if is_feedback else None,
        complaint_id=None if is_feedback else comment.pk,
    )


@transaction.atomic
def _plan_apply(result: grouping.Plan, *, source: str, since: date | None) -> None:
    members: list[ThemeMember] = []
    created: list[int] = []
    for label, comments in result.new_themes:
        theme = Theme(label=label)
        _save(theme)
        created.append(theme.pk)
        members += [_member(theme.pk, c) for c in comments]
    for theme_id, comments in result.placed.items():
        members += [_member(theme_id, c) for c in comments]
    ThemeMember.objects.bulk_create(members, batch_size=BATCH)
    relabel = {
        t.pk: t
        for t in Theme.objects.filter(pk__in=result.relabel, named_by_person=False)
        if t.label != result.relabel[t.pk]
    }
    before = {pk: theme.label for pk, theme in relabel.items()}
    for pk, theme in relabel.items():
        theme.label = result.relabel[pk]
        theme.updated_at = timezone.now()
    Theme.objects.bulk_update(relabel.values(), ["label", "updated_at"])
    _relabelled(None, {before[pk]: theme.label for pk, theme in relabel.items()})
    _audit(
        None,
        ChangeAction.GROUP,
        None,
        source=source,
        since=since.isoformat() if since else None,
        pipeline=result.pipeline,
        new_themes=created,
        placed={str(k): len(v) for k, v in result.placed.items()},
        relabelled=sorted(relabel),
        comments=len(members),
    )
    tables_touch(Theme, ThemeMember)
