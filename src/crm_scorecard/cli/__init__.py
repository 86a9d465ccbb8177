"""The `crm-scorecard` command: Django's management commands under one product name."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["crm-scorecard", *(sys.argv[1:] if argv is None else argv)])
