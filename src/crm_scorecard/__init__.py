"""CRM Scorecard: a central customer database, KPIs and balanced scorecards."""

__version__ = "0.1.0"
