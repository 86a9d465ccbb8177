"""Alerts run after new values: scorecards (below) announce them with `values_changed`."""

from __future__ import annotations

from typing import Any

from crm_scorecard.scorecards.signals import values_changed

from .services import alerts_check


def values_written(*, reason: str, indicator_ids: tuple[int, ...] = (), **_: Any) -> None:
    """After a compute: check everything. After manual values: check their scorecards."""
    alerts_check(indicator_ids=indicator_ids if reason == "manual" else None)


def connect() -> None:
    values_changed.connect(values_written, dispatch_uid="alerts-after-values")
