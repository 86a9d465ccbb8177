"""Scorecards as YAML files: evaluate, import, export, list."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import GoalLink, Indicator, ManualValue, Scorecard
from crm_scorecard.scorecards.services import scorecard_import

from .factories import DepartmentFactory

LOYALTY = """
name: Customer loyalty
mission: Keep the customers we win
thresholds: {green: 0.8, yellow: 0.5}
perspectives:
  - name: Customer
    weight: 3
    goals:
      - name: Keep customers
        weight: 2
        indicators:
          - name: Retention rate
            values: {"2026-01": 0.91, "2026-02": 0.93}
            optimization: maximize
            baseline: 0.85
            target: 0.95
            min: 0.80
            max: 1.0
            thresholds: {green: 0.9, yellow: 0.6}
          - name: Complaints per 1000
            value: 4
            optimization: minimize
            baseline: 10
            target: 2
            weight: 3
        goals:
          - name: Win back
            indicators:
              - name: Returning customers
                values: {"2026-02": 30}
                baseline: 0
                target: 40
  - name: Learning & growth
    goals:
      - name: Skilled agents
        indicators:
          - name: Training hours
            baseline: 0
            target: 20
links:
  - from: Skilled agents
    to: Keep customers
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "card.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def evaluate_json(path: Path, *extra: str) -> dict:
    out = io.StringIO()
    call_command("scorecard", "evaluate", str(path), "--json", *extra, stdout=out)
    return json.loads(out.getvalue())


def test_evaluate_json_tree_with_hand_computed_scores(tmp_path):
    # Given the loyalty scorecard file
    path = write(tmp_path, LOYALTY)
    # When evaluated for February
    tree = evaluate_json(path, "--period", "2026-02")
    customer = tree["perspectives"][0]
    keep = customer["goals"][0]
    retention, complaints = keep["indicators"]
    win_back = keep["goals"][0]
    # Then retention = (0.93 - 0.80) / (1.0 - 0.80) = 0.65, progress (0.93 - 0.85) / 0.10 = 0.8, yellow (own green 0.9)
    assert retention["value"] == 0.93
    assert retention["performance"] == pytest.approx(0.65) and retention[
        "progress"
    ] == pytest.approx(0.8)
    assert retention["status"] == "yellow"
    # complaints (minimize 10 -> 2) at 4: (10 - 4) / (10 - 2) = 0.75
    assert complaints["score"] == pytest.approx(0.75)
    # win back = 30 / 40 = 0.75
    assert win_back["score"] == pytest.approx(0.75)
    # keep customers = (1 * 0.65 + 3 * 0.75 + 1 * 0.75) / 5 = 3.65 / 5 = 0.73
    assert keep["score"] == pytest.approx(0.73) and keep["status"] == "yellow"
    # absolute weights: Customer 3/4; retention = 3/4 * 1 * 1/5 = 0.15
    assert customer["absolute_weight"] == pytest.approx(0.75)
    assert retention["absolute_weight"] == pytest.approx(0.15)
    # Learning & growth has no data: grey, left out; the scorecard equals Customer, 0.73
    learning = tree["perspectives"][1]
    assert (learning["score"], learning["status"]) == (None, "grey")
    assert tree["no_data"] == ["Learning & growth"]
    assert tree["score"] == pytest.approx(0.73)
    # fix first: complaints 3/4 * 3/5 * 0.25 = 0.1125 before retention 0.15 * 0.35 = 0.0525
    assert [p["name"] for p in tree["fix_first"]][:2] == ["Complaints per 1000", "Retention rate"]
    assert tree["fix_first"][0]["impact"] == pytest.approx(0.1125)


def test_evaluate_marks_stale_values_grey(tmp_path):
    # Given the file, when evaluated for April (February's values are two months old)
    tree = evaluate_json(write(tmp_path, LOYALTY), "--period", "2026-04")
    retention = tree["perspectives"][0]["goals"][0]["indicators"][0]
    # Then retention is grey and stale, showing its last value
    assert (retention["status"], retention["stale"], retention["score"], retention["value"]) == (
        "grey",
        True,
        None,
        0.93,
    )


def test_evaluate_readable_tree(tmp_path):
    # Given the file, when evaluated without --json
    out = io.StringIO()
    call_command(
        "scorecard", "evaluate", str(write(tmp_path, LOYALTY)), "--period", "2026-02", stdout=out
    )
    text = out.getvalue()
    # Then the tree, the scores and what to fix first are readable
    assert "Customer loyalty" in text and "Retention rate" in text and "score 0.730" in text
    assert "What to fix first" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("weight: 2", "wieght: 2"),
            "perspectives[0].goals[0].wieght: Extra inputs are not permitted",
        ),
        (
            ("baseline: 0.85", "baseline: high"),
            "perspectives[0].goals[0].indicators[0].baseline: Input should be a valid number",
        ),
        (('"2026-01": 0.91', '"Jan": 0.91'), "period 'Jan' must look like 2026-01"),
        (
            ("optimization: maximize", "optimization: biggest"),
            "Input should be 'maximize', 'minimize', 'band' or 'binary'",
        ),
        (("target: 0.95", "target: 0.85"), "baseline and target are both 0.85"),
        (
            ("weight: 3\n    goals", "weight: -3\n    goals"),
            "weights of perspectives must not be negative",
        ),
        (("to: Keep customers", "to: Keep nobody"), "link names goal 'Keep nobody'"),
        (
            ('values: {"2026-02": 30}', 'values: {"2026-02": 30}\n                value: 3'),
            "give one of metric, value or values",
        ),
    ],
)
def test_invalid_files_are_refused_with_where_and_why(tmp_path, change, message):
    # Given a file with one mistake
    path = write(tmp_path, LOYALTY.replace(*change, 1))
    # When evaluated, then the error names the place and the reason
    with pytest.raises(CommandError) as info:
        call_command("scorecard", "evaluate", str(path), stdout=io.StringIO())
    assert message in str(info.value)


def test_not_yaml_is_refused(tmp_path):
    # Given a file that is not YAML, then the error says so
    with pytest.raises(CommandError, match="not valid YAML"):
        call_command(
            "scorecard", "evaluate", str(write(tmp_path, "name: [unclosed")), stdout=io.StringIO()
        )


def test_default_perspectives():
    # Given a file with only a name, then it has the four classic perspectives
    card = files.parse({"name": "Empty"})
    assert [p.name for p in card.perspectives] == [
        "Financial",
        "Customer",
        "Internal process",
        "Learning & growth",
    ]


@pytest.mark.django_db
def test_import_export_round_trip_and_list(tmp_path):
    # Given a department and the file
    DepartmentFactory(name="Customer Service")
    path = write(tmp_path, LOYALTY)
    # When imported
    out = io.StringIO()
    call_command("scorecard", "import", str(path), "--department", "customer service", stdout=out)
    # Then it is stored with its goals, indicators, values and links
    card = Scorecard.objects.get()
    assert (
        card.department.name == "Customer Service" and card.mission == "Keep the customers we win"
    )
    assert Indicator.objects.count() == 4
    assert ManualValue.objects.filter(indicator__name="Retention rate").count() == 2
    assert GoalLink.objects.get().cause.name == "Skilled agents"
    # And exporting gives back an equivalent file
    exported = io.StringIO()
    call_command("scorecard", "export", "Customer loyalty", stdout=exported)
    again = files.parse(__import__("yaml").safe_load(exported.getvalue()))
    original = files.load(path)
    assert (
        again.perspectives[0].goals[0].indicators[0].values
        == original.perspectives[0].goals[0].indicators[0].values
    )
    assert again.perspectives[0].goals[0].goals[0].name == "Win back"
    assert [(link.cause, link.effect) for link in again.links] == [
        ("Skilled agents", "Keep customers")
    ]
    # And the stored scorecard scores like the file, for the month `list` shows by default
    # (with no KPIs stored: this month, where only the single value 4 of "Complaints per
    # 1000" is current: (10 - 4) / (10 - 2) = 0.75; the monthly values are stale)
    this_month = f"{date.today():%Y-%m}"
    listing, evaluated = io.StringIO(), io.StringIO()
    call_command("scorecard", "list", "--json", stdout=listing)
    call_command(
        "scorecard", "evaluate", str(path), "--period", this_month, "--json", stdout=evaluated
    )
    (listed,) = json.loads(listing.getvalue())
    assert listed["name"] == "Customer loyalty"
    assert listed["score"] == pytest.approx(json.loads(evaluated.getvalue())["score"])
    assert listed["score"] == pytest.approx(0.75)
    # And importing again is refused unless --replace
    with pytest.raises(CommandError, match="already has a scorecard"):
        call_command(
            "scorecard",
            "import",
            str(path),
            "--department",
            "Customer Service",
            stdout=io.StringIO(),
        )
    call_command(
        "scorecard",
        "import",
        str(path),
        "--department",
        "Customer Service",
        "--replace",
        stdout=io.StringIO(),
    )
    assert Scorecard.objects.count() == 1


@pytest.mark.django_db
def test_invalid_file_writes_nothing(tmp_path):
    # Given an invalid file
    DepartmentFactory(name="Sales")
    path = write(tmp_path, LOYALTY.replace("target: 0.95", "target: 0.85"))
    # When imported, then it is refused and nothing is stored
    with pytest.raises(CommandError):
        call_command(
            "scorecard", "import", str(path), "--department", "Sales", stdout=io.StringIO()
        )
    assert Scorecard.objects.count() == 0 and Indicator.objects.count() == 0


@pytest.mark.django_db
def test_import_to_unknown_department(tmp_path):
    with pytest.raises(CommandError, match="No department named 'Nope'"):
        call_command(
            "scorecard",
            "import",
            str(write(tmp_path, LOYALTY)),
            "--department",
            "Nope",
            stdout=io.StringIO(),
        )


@pytest.mark.django_db
def test_cascaded_goal_shares_the_parent_data():
    from crm_scorecard.scorecards import scoring as sc
    from crm_scorecard.scorecards.models import Goal, Perspective
    from crm_scorecard.scorecards.selectors import scorecard_scoring
    from crm_scorecard.scorecards.services import goal_cascade, manual_value_set

    # Given Sales with a sub-team, and a Sales goal with a manual indicator valued 30 of 40
    sales = DepartmentFactory(name="Sales")
    team = DepartmentFactory(name="Team", parent=sales)
    other = DepartmentFactory(name="Other")
    parent_card = scorecard_import(
        card=files.parse(
            {
                "name": "Sales",
                "perspectives": [
                    {
                        "name": "Customer",
                        "goals": [
                            {
                                "name": "Win",
                                "indicators": [
                                    {
                                        "name": "Deals",
                                        "values": {"2026-01": 30},
                                        "baseline": 0,
                                        "target": 40,
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ),
        department=sales,
    )
    team_card = scorecard_import(
        card=files.parse({"name": "Team", "perspectives": [{"name": "Customer"}]}), department=team
    )
    source = Goal.objects.get(perspective__scorecard=parent_card, name="Win")
    # When the goal is cascaded into the team's scorecard
    goal = goal_cascade(source=source, perspective=Perspective.objects.get(scorecard=team_card))
    # Then the team sees the same 0.75, and a later value in the parent reaches it too
    assert sc.evaluate(scorecard_scoring(team_card), period="2026-01").score == pytest.approx(0.75)
    manual_value_set(indicator=source.indicators.get(), period="2026-02", value=40)
    assert sc.evaluate(scorecard_scoring(team_card), period="2026-02").score == pytest.approx(1.0)
    assert goal.cascaded_from == source
    # And a department that is not below Sales cannot cascade it
    other_card = scorecard_import(
        card=files.parse({"name": "Other", "perspectives": [{"name": "Customer"}]}),
        department=other,
    )
    with pytest.raises(sc.DefinitionError, match="not above Other"):
        goal_cascade(source=source, perspective=Perspective.objects.get(scorecard=other_card))


# ---- limits: a file from anyone is refused before it can cost much ---------------------------

# Ten levels of nested aliases: 543 bytes that a plain YAML loader expands to 10^9 strings
# (here the tenth level names a scorecard's goals, as the file that took pages down did).
ALIAS_BOMB = (
    "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))
    + "name: Bomb\nperspectives: [{name: Boom, goals: *l9}]\n"
)


def deep(levels: int) -> str:
    return "name: Deep\nmission: " + "[" * levels + "]" * levels + "\n"


def goals(count: int) -> str:
    lines = "".join(f"      - name: Goal {i}\n" for i in range(count))
    return f"name: Many\nperspectives:\n  - name: Customer\n    goals:\n{lines}"


def refuse_cli(*args: str) -> str:
    """Runs `crm-scorecard` as a user does; returns what it printed on failing."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "crm-scorecard"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "crm_scorecard.settings.test"},
    )
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_aliases_are_refused_on_the_command_line(tmp_path):
    # Given a 10-level alias bomb
    path = write(tmp_path, ALIAS_BOMB)
    # When evaluated by the command, then it exits non-zero saying why
    err = refuse_cli("scorecard", "evaluate", str(path))
    assert "line 1: YAML anchors and aliases (&name, *name) are not allowed" in err


def test_aliases_are_refused_before_they_are_expanded(monkeypatch):
    # Given a 10-level alias bomb, and a spy on the YAML constructor
    built: list[object] = []
    original = files._LimitedLoader.construct_document
    monkeypatch.setattr(
        files._LimitedLoader,
        "construct_document",
        lambda self, node: built.append(node) or original(self, node),
    )
    # When read
    with pytest.raises(files.FileError) as info:
        files.loads(ALIAS_BOMB, source="bomb.yaml")
    # Then it is refused at the first anchor (line 1), before any alias, with a message
    # saying why, and nothing was built from it
    assert str(info.value) == (
        "bomb.yaml: line 1: YAML anchors and aliases (&name, *name) are not allowed in a "
        "scorecard file; write each part out"
    )
    assert built == []


def test_an_alias_without_an_anchor_is_refused_too():
    # Given a file using an alias only (the anchor check alone would not see it)
    # When read, then the alias is refused by name, not reported as a YAML error
    with pytest.raises(files.FileError, match="anchors and aliases"):
        files.loads("name: *x\n")


def test_deep_nesting_is_refused_without_recursing():
    # Given YAML nested 20,000 levels deep (which made the composer raise RecursionError)
    # When read, then it is refused naming the limit, at once
    started = time.monotonic()
    with pytest.raises(files.FileError, match="nested more than 20 levels deep"):
        files.loads(deep(20_000), source="deep.yaml")
    assert time.monotonic() - started < 5  # a generous sanity bound: it took 0.3 s here


def test_nesting_up_to_the_limit_is_read():
    # Given a file nested exactly 20 levels (the top mapping is the first)
    # When read, then it is read through to the schema check (a list is no mission)
    with pytest.raises(files.FileError, match="mission: Input should be a valid string"):
        files.loads(deep(19))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "name: Big\n" + "# padding\n" * 110_000,
            "the file is too big (the limit is 1 MiB, 1,048,576 bytes)",
        ),
        (goals(501), "too big: 501 goals (the limit is 500)"),
        (
            "name: Wide\nperspectives:\n" + "".join(f"  - name: P{i}\n" for i in range(21)),
            "too big: 21 perspectives (the limit is 20)",
        ),
        (
            "name: Busy\nperspectives:\n  - name: P\n    goals:\n      - name: G\n"
            "        indicators:\n"
            + "".join(f"          - {{name: I{i}, baseline: 0, target: 1}}\n" for i in range(2001)),
            "too big: 2,001 indicators (the limit is 2,000)",
        ),
        ("name: " + "x" * 201 + "\n", "name: String should have at most 200 characters"),
        (
            "name: Long\nperspectives: [{name: " + "p" * 201 + "}]\n",
            "perspectives[0].name: String should have at most 200 characters",
        ),
    ],
    ids=["size", "goals", "perspectives", "indicators", "name", "perspective-name"],
)
@pytest.mark.django_db
def test_files_over_the_limits_are_refused_and_write_nothing(tmp_path, content, message):
    # Given a department and a file over one limit
    DepartmentFactory(name="Sales")
    path = write(tmp_path, content)
    # When imported from the command line, then it fails naming what is over which limit
    with pytest.raises(CommandError) as info:
        call_command(
            "scorecard", "import", str(path), "--department", "Sales", stdout=io.StringIO()
        )
    assert message in str(info.value)
    # And nothing is stored
    assert Scorecard.objects.count() == 0 and Indicator.objects.count() == 0


def test_files_at_the_limits_are_read():
    # Given 500 goals, which is the limit
    # When read, then the file is accepted
    assert len(files.loads(goals(500)).perspectives[0].goals) == 500


# ---- one field list for the model, the file and scoring (scorecards.mapping) -------------------


def test_the_field_lists_cover_the_model_the_file_and_scoring():
    # Given the indicator's definition as the model, the file and scoring declare it
    from dataclasses import fields

    from crm_scorecard.scorecards import mapping, scoring

    not_definition = {"id", "goal", "position", "cascaded_from"}
    columns = {f.name for f in Indicator._meta.concrete_fields} - not_definition
    columns = {c.removesuffix("_id") for c in columns}
    # Then the mapping's lists name every definition column, and only fields that exist
    assert set(mapping.DEFINITION) == columns
    assert set(mapping.SHARED) <= set(files.IndicatorIn.model_fields)
    assert set(mapping.SCORED) <= {f.name for f in fields(scoring.Indicator)}


def test_an_indicator_with_every_field_set_goes_file_model_file_unchanged():
    # Given a file's indicator with every definition field set away from its default
    from crm_scorecard.scorecards import mapping

    given = files.IndicatorIn.model_validate(
        {
            "name": "Handle time",
            "metric": "average_handle_time",
            "scope": "company",
            "filter": {"channel": "phone"},
            "optimization": "band",
            "baseline": 600,
            "target": 300,
            "targets": {"2026-03": 280},
            "min": 100,
            "max": 900,
            "tolerance": 20,
            "weight": 2.5,
            "thresholds": {"green": 0.9, "yellow": 0.4},
            "unit": "seconds",
            "owner": "Call centre lead",
            "update_interval": "quarter",
            "kind": "leading",
        }
    )
    # When it is turned into the model's columns and back
    definition = mapping.definition_from_file(given)
    again = mapping.file_indicator(definition, targets=dict(given.targets), values={})
    # Then nothing is lost or changed
    assert again == given
    assert (definition["filter_dimension"], definition["filter_value"]) == ("channel", "phone")
    assert (definition["green"], definition["yellow"]) == (0.9, 0.4)
    # And scoring reads the same numbers
    scored = mapping.scoring_indicator(definition, values={}, targets={"2026-03": 280.0})
    assert (scored.min, scored.max, scored.tolerance, scored.weight) == (100, 900, 20, 2.5)
    assert (scored.thresholds.green, scored.thresholds.yellow) == (0.9, 0.4)
    assert scored.metric == "average_handle_time" and scored.target_at("2026-04") == 280


# ---- links join goals by id --------------------------------------------------------------------


@pytest.mark.django_db
def test_renaming_a_goal_keeps_its_links(tmp_path):
    # Given the loyalty scorecard, stored, with "Skilled agents" driving "Keep customers"
    from crm_scorecard.scorecards.models import Goal
    from crm_scorecard.scorecards.selectors import scorecard_export, scorecard_scoring
    from crm_scorecard.scorecards.services import goal_save

    card = scorecard_import(
        card=files.load(write(tmp_path, LOYALTY)), department=DepartmentFactory()
    )
    skilled = Goal.objects.get(name="Skilled agents")
    keep = Goal.objects.get(name="Keep customers")
    # When "Skilled agents" is renamed
    skilled.name = "Skilled people"
    goal_save(goal=skilled)
    # Then the scoring model still links the two goals, by their ids
    scored = scorecard_scoring(card)
    assert scored.goal_links == [(str(skilled.pk), str(keep.pk))]
    names = {g.key: g.name for g in scored.goals()}
    assert [(names[c], names[e]) for c, e in scored.goal_links] == [
        ("Skilled people", "Keep customers")
    ]
    # And the exported file names the goal by its new name, and imports again
    exported = scorecard_export(card)
    assert [(link.cause, link.effect) for link in exported.links] == [
        ("Skilled people", "Keep customers")
    ]
    again = scorecard_import(card=exported, department=card.department, replace=True)
    assert GoalLink.objects.get(scorecard=again).cause.name == "Skilled people"


def test_a_file_link_to_a_goal_it_does_not_have_is_refused(tmp_path):
    # Given the loyalty file linking a goal it does not have
    path = write(tmp_path, LOYALTY.replace("to: Keep customers", "to: Keep everyone"))
    # When it is evaluated, then it is refused naming the goal
    with pytest.raises(CommandError, match="link names goal 'Keep everyone'"):
        evaluate_json(path)
