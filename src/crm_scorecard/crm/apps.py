from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm_scorecard.crm"
    label = "crm"
    verbose_name = "Central customer database"

    def ready(self) -> None:
        from . import changes

        changes.connect()
