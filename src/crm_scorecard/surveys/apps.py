from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "crm_scorecard.surveys"
    label = "surveys"
    verbose_name = "Rating sheets"
