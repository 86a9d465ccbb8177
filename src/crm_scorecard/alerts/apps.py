"""Alerts: colour changes, manual values due and complaint service levels, sent as one digest per person per run."""

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "crm_scorecard.alerts"
    label = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from . import receivers

        receivers.connect()
