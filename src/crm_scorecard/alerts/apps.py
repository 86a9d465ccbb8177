from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "crm_scorecard.alerts"
    label = "alerts"
    verbose_name = "Alerts"
