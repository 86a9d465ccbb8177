from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "crm_scorecard.web"
    label = "web"
    verbose_name = "Web pages"
