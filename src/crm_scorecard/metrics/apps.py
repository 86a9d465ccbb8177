from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "crm_scorecard.metrics"
    label = "metrics"
    verbose_name = "KPIs"
