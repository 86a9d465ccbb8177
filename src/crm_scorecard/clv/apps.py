from django.apps import AppConfig


class ClvConfig(AppConfig):
    name = "crm_scorecard.clv"
    label = "clv"
    verbose_name = "Customer value"
