from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "crm_scorecard.accounts"
    label = "accounts"
    verbose_name = "Departments and people"
