"""Keep cached evaluations honest: any change to what a scorecard scores from marks every
scorecard as changed (`updated_at`), which is part of each cached evaluation's key.

Every scorecard is touched, not only the one edited, because a cascaded goal scores from
its parent department's indicators and manual values. Edits are rare next to page views,
and the update is one statement over a small table. KPI values are written only by fill
runs (read-only in the admin); the latest run is part of the key as well
(`selectors.kpi_version`)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.utils import timezone

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

WATCHED = (Perspective, Goal, Indicator, TargetPoint, ManualValue, GoalLink, Initiative)


def scorecards_touch(**_: Any) -> None:
    """Mark every scorecard as changed now, so no cached evaluation of it is used again."""
    Scorecard.objects.update(updated_at=timezone.now())


def connect() -> None:
    for model in WATCHED:
        for signal in (post_save, post_delete):
            signal.connect(scorecards_touch, sender=model, dispatch_uid=f"touch-{model.__name__}")
