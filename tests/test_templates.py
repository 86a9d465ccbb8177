"""Ready-made scorecards work on the demo company."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm_scorecard.accounts.models import Department
from crm_scorecard.scorecards import scoring
from crm_scorecard.scorecards.mapping import file_to_scoring
from crm_scorecard.scorecards.models import Scorecard
from crm_scorecard.scorecards.selectors import latest_period, scorecard_scoring
from crm_scorecard.scorecards.templates import template_load, template_names

pytestmark = pytest.mark.django_db(transaction=True)

FIVE_FACETS = {"Acquire customers", "Up-sell", "Cross-sell", "Retain customers", "Serve well"}


def test_templates_are_valid_and_complete():
    # Given every shipped template
    names = template_names()
    assert names == [
        "acquisition",
        "call_centre",
        "conversion",
        "crm",
        "direct_sales",
        "erm",
        "loyalty",
    ]
    for name in names:
        card = template_load(name)
        # Then each has a mission and cause-and-effect links, and scores without errors
        assert card.mission and card.links, name
        scoring.evaluate(file_to_scoring(card))
    # And the CRM scorecard covers the five facets
    crm = template_load("crm")
    goals = {g.name for p in crm.perspectives for g in p.goals}
    assert goals >= FIVE_FACETS


def test_demo_installs_scorecards_that_score_on_its_data():
    # Given the demo with a small company (computes KPIs and installs the templates)
    call_command(
        "demo",
        "--no-serve",
        "--customers",
        "300",
        "--months",
        "6",
        stdout=io.StringIO(),
        verbosity=0,
    )
    # Then every department and sub-department has its scorecards (two each for Sales and
    # Customer Service), and each scores from real KPI values
    assert Scorecard.objects.count() == 11
    period = latest_period()  # the month pages open on: the latest complete one
    for card in Scorecard.objects.all():
        result = scoring.evaluate(scorecard_scoring(card), period=period)
        indicators = [n for n in result.walk() if n.kind == "indicator"]
        with_values = [n for n in indicators if n.value is not None]
        assert result.score is not None, card.name
        assert len(with_values) >= len(indicators) - 1, (
            card.name,
            [n.name for n in indicators if n.value is None],
        )


def test_install_by_command_and_errors():
    # Given a department
    Department.objects.create(name="Service")
    out = io.StringIO()
    # When the call-centre template is installed
    call_command("templates", "install", "call_centre", "--department", "service", stdout=out)
    # Then it is there, and a second install or an unknown template is refused with the reason
    assert Scorecard.objects.get().template == "call_centre"
    with pytest.raises(CommandError, match="already has a scorecard"):
        call_command(
            "templates", "install", "call_centre", "--department", "Service", stdout=io.StringIO()
        )
    with pytest.raises(CommandError, match="unknown template 'nope'"):
        call_command(
            "templates", "install", "nope", "--department", "Service", stdout=io.StringIO()
        )
