"""Ready-made scorecards: the CRM five facets, conversion, call centre, direct sales,
loyalty and retention, and the employee relationship. Each has a mission, cause-and-effect
links and targets that fit a mid-sized company; install one and adjust it."""

from __future__ import annotations

from pathlib import Path

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.scope import Actor
from crm_scorecard.errors import Invalid

from . import files
from .models import Scorecard
from .services import scorecard_import

LIBRARY = Path(__file__).parent / "library"


class UnknownTemplate(Invalid):
    """No template of that name in the library."""


def template_names() -> list[str]:
    return sorted(p.stem for p in LIBRARY.glob("*.yaml"))


def template_load(name: str) -> files.ScorecardFile:
    path = LIBRARY / f"{name}.yaml"
    if name not in template_names():
        raise UnknownTemplate(
            f"unknown template {name!r}; templates are {', '.join(template_names())}"
        )
    return files.load(path)


def template_install(
    *, name: str, department: Department, replace: bool = False, actor: Actor | None = None
) -> Scorecard:
    """Store the template as a scorecard of the department, as `actor` (None: an operator)
    may: its indicators' scopes are checked like any scorecard file's."""
    return scorecard_import(
        card=template_load(name),
        department=department,
        replace=replace,
        template=name,
        actor=actor,
    )
