"""Alerts: colour changes, manual values due and complaint service levels, sent as one digest per person per run."""
