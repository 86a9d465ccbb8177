from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "crm_scorecard.jobs"
    label = "jobs"
    verbose_name = "Jobs"
