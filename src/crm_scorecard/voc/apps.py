from django.apps import AppConfig


class VocConfig(AppConfig):
    name = "crm_scorecard.voc"
    label = "voc"
    verbose_name = "Voice of the customer"
