from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "crm_scorecard.cli"
    label = "cli"
    verbose_name = "Command line"
