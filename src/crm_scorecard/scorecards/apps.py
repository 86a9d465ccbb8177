from django.apps import AppConfig


class ScorecardsConfig(AppConfig):
    name = "crm_scorecard.scorecards"
    label = "scorecards"
    verbose_name = "Balanced scorecards"

    def ready(self) -> None:
        from . import signals

        signals.connect()
