"""Keep cached evaluations honest: any change to what a scorecard scores from marks every
scorecard as changed (`updated_at`), which is part of each cached evaluation's key.

Every scorecard is touched, not only the one edited, because a cascaded goal scores from
its parent department's indicators and manual values. Edits are rare next to page views,
and the update is one statement over a small table. KPI values are written only by fill
runs (read-only in the admin); the latest run is part of the key as well
(`selectors.kpi_version`).

Indicators also follow the affinity diagram's themes: voc, below this layer, announces a
renamed or merged theme (`voc.signals.theme_relabelled`) and `indicators_follow_themes`
moves the indicators that filter on its label.

Scorecards in turn announce new values to the layers above (alerts) with `values_changed`:
after a fill run finishes (any `compute`, wherever it was started) and after a manual value
is entered (`services.manual_value_set`), once the write is committed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal
from django.utils import timezone

from crm_scorecard.metrics.api import Grain, KpiValue, kpi_compute
from crm_scorecard.metrics.models import FillRun
from crm_scorecard.voc.signals import theme_relabelled

from .models import (
    Goal,
    GoalLink,
    Indicator,
    Initiative,
    ManualValue,
    Perspective,
    Scorecard,
    TargetPoint,
)
from .selectors import indicator_slices

WATCHED = (Perspective, Goal, Indicator, TargetPoint, ManualValue, GoalLink, Initiative)
VOC_THEME = "voc_theme"

log = logging.getLogger(__name__)

values_changed = Signal()
"""KPI or manual values were written and committed. `reason`: "compute" (a fill run
finished) or "manual" (`indicator_ids`: the manual indicators whose values were entered)."""


def values_announce(*, reason: str, indicator_ids: tuple[int, ...] = ()) -> None:
    """Send `values_changed` once the current transaction commits (at once outside one). A
    receiver's failure is logged and never undoes or fails the write."""

    def send() -> None:
        for receiver, result in values_changed.send_robust(
            sender=Scorecard, reason=reason, indicator_ids=indicator_ids
        ):
            if isinstance(result, Exception):
                log.error("values_changed receiver %r failed", receiver, exc_info=result)

    transaction.on_commit(send)


def fill_run_finished(*, instance: FillRun, **_: Any) -> None:
    """A fill run that finished without error stored new KPI values."""
    if instance.finished_at is not None and not instance.error:
        values_announce(reason="compute")


def scorecards_touch(**_: Any) -> None:
    """Mark every scorecard as changed now, so no cached evaluation of it is used again."""
    Scorecard.objects.update(updated_at=timezone.now())


def indicators_follow_themes(*, labels: Mapping[str, str], **_: Any) -> None:
    """Themes were renamed or merged (`labels`: {label before: label after}): every indicator
    filtering `voc_theme` on a label before now filters on the label after, in whichever
    department's scorecard it is (a theme's label is company-wide, like the breakdown the
    metrics store under it). Their metrics are then computed again once the change is
    committed, so the scorecard shows the theme's numbers under its new label at once
    rather than "no data" until the next `compute`."""
    moving = {
        before: list(
            Indicator.objects.filter(filter_dimension=VOC_THEME, filter_value=before).values_list(
                "pk", "metric"
            )
        )
        for before in labels
    }
    # All pairs are read before any is written: one theme's old label may be another's new.
    # Each indicator is saved on its own (there are few), so its change is in the audit trail.
    for before, found in moving.items():
        for indicator in Indicator.objects.filter(pk__in=[pk for pk, _ in found]):
            indicator.filter_value = labels[before]
            indicator.save(update_fields=["filter_value"])
    metrics = sorted({metric for found in moving.values() for _, metric in found} - {""})
    if any(moving.values()):
        scorecards_touch()
    if metrics:
        transaction.on_commit(partial(_kpi_recompute, metrics), robust=True)


def _kpi_recompute(metrics: list[str]) -> None:
    """Store `metrics` again with the breakdowns `compute` stores for them (the scorecards'
    slices, and any company-wide breakdown stored before), now under the themes' labels."""
    company, within = indicator_slices()
    stored = (
        KpiValue.objects.filter(metric__in=metrics, grain=Grain.MONTH, department__isnull=True)
        .exclude(dimension="")
        .values_list("dimension", flat=True)
        .distinct()
    )
    extra = sorted((company | set(stored)) - {"department"})
    log.info("recomputing %s after a theme was renamed or merged", ", ".join(metrics))
    kpi_compute(metrics=metrics, by=[None, "department", *extra], slices=within)


def connect() -> None:
    for model in WATCHED:
        for signal in (post_save, post_delete):
            signal.connect(scorecards_touch, sender=model, dispatch_uid=f"touch-{model.__name__}")
    theme_relabelled.connect(indicators_follow_themes, dispatch_uid="indicators-follow-themes")
    post_save.connect(fill_run_finished, sender=FillRun, dispatch_uid="fill-run-finished")
