from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "crm_scorecard.segments"
    label = "segments"
    verbose_name = "Segments"
