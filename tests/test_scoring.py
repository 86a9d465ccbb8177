"""Scoring, with every expected number worked out by hand in the comments."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crm_scorecard.scorecards.scoring import (
    DefinitionError,
    Goal,
    Indicator,
    Optimization,
    Perspective,
    Scorecard,
    Status,
    Thresholds,
    evaluate,
    performance,
    progress,
)

MAX, MIN, BAND, BIN = (
    Optimization.MAXIMIZE,
    Optimization.MINIMIZE,
    Optimization.BAND,
    Optimization.BINARY,
)


def card_of(*indicators: Indicator, thresholds: Thresholds | None = None) -> Scorecard:
    return Scorecard(
        name="Card",
        thresholds=thresholds or Thresholds(),
        perspectives=[Perspective(name="P", goals=[Goal(name="G", indicators=list(indicators))])],
    )


def test_maximize_defaults_min_to_baseline_and_max_to_target():
    # Given retention with baseline 0.85 and target 0.95
    ind = Indicator(name="Retention", baseline=0.85, target=0.95)
    # When it is 0.93: (0.93 - 0.85) / (0.95 - 0.85) = 0.8, and progress is the same
    assert performance(ind, 0.93) == pytest.approx(0.8)
    assert progress(ind, 0.93) == pytest.approx(0.8)


def test_maximize_with_explicit_min_and_max():
    # Given min 0.80 and max 1.0: (0.93 - 0.80) / 0.20 = 0.65; progress stays 0.08 / 0.10 = 0.8
    ind = Indicator(name="Retention", baseline=0.85, target=0.95, min=0.80, max=1.0)
    assert performance(ind, 0.93) == pytest.approx(0.65)
    assert progress(ind, 0.93) == pytest.approx(0.8)


def test_minimize_defaults_min_to_target_and_max_to_baseline():
    # Given handle time baseline 300 s, target 200 s
    ind = Indicator(name="AHT", baseline=300, target=200, optimization=MIN)
    # When 240 s: (300 - 240) / (300 - 200) = 0.6; progress (240 - 300) / (200 - 300) = 0.6
    assert performance(ind, 240) == pytest.approx(0.6)
    assert progress(ind, 240) == pytest.approx(0.6)
    # And beyond the bounds it is clamped: 150 s -> 1.5 -> 1; 350 s -> -0.5 -> 0
    assert performance(ind, 150) == 1.0 and progress(ind, 150) == 1.0
    assert performance(ind, 350) == 0.0 and progress(ind, 350) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (52, 1.0),  # within 50 ± 5
        (45, 1.0),  # exactly on the tolerance edge
        (40, 10 / 15),  # below: (40 - 30) / (45 - 30)
        (70, 10 / 25),  # above: (80 - 70) / (80 - 55)
        (25, 0.0),  # below min
        (90, 0.0),  # above max
    ],
)
def test_band(value, expected):
    # Given a band target of 50 ± 5 between 30 and 80
    ind = Indicator(
        name="Stock days", baseline=20, target=50, tolerance=5, min=30, max=80, optimization=BAND
    )
    # When scored, then it is 1 in the band and falls linearly to 0 at min and max
    assert performance(ind, value) == pytest.approx(expected)


def test_binary_follows_the_direction_of_the_target():
    # Given a higher-is-better and a lower-is-better binary indicator
    up = Indicator(name="Certified", baseline=0, target=1, optimization=BIN)
    down = Indicator(name="Defects", baseline=10, target=5, optimization=BIN)
    # Then meeting the target scores 1, missing it 0
    assert (performance(up, 1), performance(up, 0.99)) == (1.0, 0.0)
    assert (performance(down, 5), performance(down, 4), performance(down, 6)) == (1.0, 1.0, 0.0)


def test_progress_is_clamped_when_worse_than_baseline():
    # Given maximize 0.85 -> 0.95, when 0.80: (0.80 - 0.85) / 0.10 = -0.5 -> 0
    ind = Indicator(name="R", baseline=0.85, target=0.95, min=0.7)
    assert progress(ind, 0.80) == 0.0
    # And performance uses min 0.7: (0.80 - 0.70) / (0.95 - 0.70) = 0.4
    assert performance(ind, 0.80) == pytest.approx(0.4)


def test_goal_scores_weighted_mean_of_scored_children_and_lists_missing():
    # Given scores 0.8 (w1), 0.5 (w3) and one with no data (w5)
    card = card_of(
        Indicator(name="A", baseline=0, target=1, value=0.8, weight=1),
        Indicator(name="B", baseline=0, target=1, value=0.5, weight=3),
        Indicator(name="C", baseline=0, target=1, weight=5),
    )
    # When evaluated: (1 * 0.8 + 3 * 0.5) / (1 + 3) = 2.3 / 4 = 0.575
    goal = evaluate(card).children[0].children[0]
    assert goal.score == pytest.approx(0.575)
    assert goal.status == Status.YELLOW
    assert goal.no_data == ["C"]
    missing = goal.children[2]
    assert (missing.score, missing.status) == (None, Status.GREY)


def test_container_without_any_data_has_no_score():
    # Given a goal whose only indicator has no value
    result = evaluate(card_of(Indicator(name="A", baseline=0, target=1)))
    # Then goal, perspective and scorecard have no score and are grey
    for node in result.walk():
        assert node.score is None and node.status == Status.GREY
    assert result.no_data == ["P"]


def test_absolute_weights_multiply_shares_along_the_path():
    # Given perspectives A (w1) and B (w3); B has goals G1 (w2), G2 (w2); G1 has I1 (w1), I2 (w4)
    g1 = Goal(
        name="G1",
        weight=2,
        indicators=[
            Indicator(name="I1", baseline=0, target=1, value=1, weight=1),
            Indicator(name="I2", baseline=0, target=1, value=0, weight=4),
        ],
    )
    g2 = Goal(
        name="G2", weight=2, indicators=[Indicator(name="I3", baseline=0, target=1, value=0.5)]
    )
    a = Perspective(
        name="A",
        weight=1,
        goals=[Goal(name="G0", indicators=[Indicator(name="I0", baseline=0, target=1, value=1)])],
    )
    b = Perspective(name="B", weight=3, goals=[g1, g2])
    result = evaluate(Scorecard(name="S", perspectives=[a, b]))
    weights = {n.name: n.absolute_weight for n in result.walk()}
    # Then A = 1/4, B = 3/4, G1 = G2 = 3/4 * 1/2 = 0.375, I1 = 0.375 * 1/5 = 0.075, I2 = 0.3
    assert weights["A"] == pytest.approx(0.25) and weights["B"] == pytest.approx(0.75)
    assert weights["G1"] == pytest.approx(0.375) and weights["G2"] == pytest.approx(0.375)
    assert weights["I1"] == pytest.approx(0.075) and weights["I2"] == pytest.approx(0.3)
    # And scores: G1 = (1*1 + 4*0) / 5 = 0.2; G2 = 0.5; B = (2*0.2 + 2*0.5) / 4 = 0.35; A = 1
    # Scorecard = (1*1 + 3*0.35) / 4 = 2.05 / 4 = 0.5125
    scores = {n.name: n.score for n in result.walk()}
    assert scores["G1"] == pytest.approx(0.2) and scores["B"] == pytest.approx(0.35)
    assert result.score == pytest.approx(0.5125)


def test_nested_goals():
    # Given goal G with indicator 1.0 (w1) and sub-goal S (w1) holding 0.5 and 0.0
    sub = Goal(
        name="S",
        indicators=[
            Indicator(name="x", baseline=0, target=1, value=0.5),
            Indicator(name="y", baseline=0, target=1, value=0.0),
        ],
    )
    goal = Goal(
        name="G", indicators=[Indicator(name="z", baseline=0, target=1, value=1.0)], goals=[sub]
    )
    result = evaluate(Scorecard(name="C", perspectives=[Perspective(name="P", goals=[goal])]))
    # Then S = 0.25 and G = (1.0 + 0.25) / 2 = 0.625
    g = result.children[0].children[0]
    assert g.children[1].score == pytest.approx(0.25)
    assert g.score == pytest.approx(0.625)
    assert g.children[1].absolute_weight == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("score", "status"),
    [
        (0.8, Status.GREEN),
        (0.7999, Status.YELLOW),
        (0.5, Status.YELLOW),
        (0.4999, Status.RED),
        (1.0, Status.GREEN),
        (0.0, Status.RED),
    ],
)
def test_stop_light_on_the_boundary_takes_the_better_colour(score, status):
    # Given default thresholds 0.8 / 0.5, then a score exactly on one takes the better colour
    assert Thresholds().status(score) == status


def test_indicator_thresholds_override_the_scorecard():
    # Given an indicator scoring 0.85 with its own green at 0.9
    ind = Indicator(
        name="A", baseline=0, target=1, value=0.85, thresholds=Thresholds(green=0.9, yellow=0.6)
    )
    result = evaluate(card_of(ind))
    # Then it is yellow, while the goal (default thresholds) is green
    assert result.children[0].children[0].children[0].status == Status.YELLOW
    assert result.children[0].children[0].status == Status.GREEN


def test_stale_value_is_grey_and_left_out():
    # Given monthly values up to January
    ind = Indicator(name="A", baseline=0, target=1, values={"2026-01": 0.9, "2025-12": 0.4})
    # When evaluated for January, then December is ignored and January counts
    assert evaluate(card_of(ind), period="2026-01").score == pytest.approx(0.9)
    # When evaluated for March, the January value is two months old: grey, no score
    node = evaluate(card_of(ind), period="2026-03").children[0].children[0].children[0]
    assert (node.value, node.stale, node.score, node.status) == (0.9, True, None, Status.GREY)
    assert node.performance == pytest.approx(0.9)
    # And a quarterly indicator is still fresh in March
    ind.update_interval = "quarter"
    assert evaluate(card_of(ind), period="2026-03").score == pytest.approx(0.9)


def test_value_before_any_data_period_is_missing():
    # Given values from February on, when evaluated for January, then there is no value
    ind = Indicator(name="A", baseline=0, target=1, values={"2026-02": 0.9})
    assert evaluate(card_of(ind), period="2026-01").score is None


def test_target_series_changes_the_target_by_period():
    # Given target 0.95 raised to 1.0 from July
    ind = Indicator(
        name="R",
        baseline=0.85,
        target=0.95,
        targets={"2026-07": 1.0},
        values={"2026-06": 0.93, "2026-08": 0.93},
    )
    # Then June: (0.93 - 0.85) / 0.10 = 0.8; August: (0.93 - 0.85) / 0.15 = 0.5333
    assert evaluate(card_of(ind), period="2026-06").score == pytest.approx(0.8)
    assert evaluate(card_of(ind), period="2026-08").score == pytest.approx(0.08 / 0.15)


@pytest.mark.parametrize(
    ("indicator", "message"),
    [
        (Indicator(name="X", baseline=1, target=1), "baseline and target are both 1"),
        (Indicator(name="X", baseline=0, target=1, min=0.5, max=0.5), "max and min are both 0.5"),
        (Indicator(name="X", baseline=0, target=1, weight=-1), "weight must not be negative"),
        (
            Indicator(name="X", baseline=0, target=1, thresholds=Thresholds(green=0.4, yellow=0.6)),
            "thresholds must satisfy",
        ),
        (
            Indicator(name="X", baseline=5, target=1),
            "to maximize, the target must be above the baseline",
        ),
        (
            Indicator(name="X", baseline=1, target=5, optimization=MIN),
            "to minimize, the target must be below the baseline",
        ),
        (
            Indicator(name="X", baseline=0, target=5, optimization=BAND),
            "a band indicator needs min and max",
        ),
        (Indicator(name="X", baseline=0, target=1, targets={"2026-01": 0}), "(target for 2026-01)"),
    ],
)
def test_invalid_indicator_definitions_are_refused_with_the_reason(indicator, message):
    # Given an invalid indicator, when the scorecard is evaluated, then the reason names it
    with pytest.raises(DefinitionError, match=r"Card > P > G > X") as info:
        evaluate(card_of(indicator))
    assert message in str(info.value)


def test_all_zero_weights_and_bad_scorecard_thresholds_are_refused():
    # Given a goal whose weights are all zero
    zero = card_of(
        Indicator(name="A", baseline=0, target=1, weight=0),
        Indicator(name="B", baseline=0, target=1, weight=0),
    )
    with pytest.raises(DefinitionError, match="are all zero"):
        evaluate(zero)
    # And scorecard thresholds out of order
    with pytest.raises(DefinitionError, match="thresholds must satisfy"):
        evaluate(
            card_of(
                Indicator(name="A", baseline=0, target=1),
                thresholds=Thresholds(green=0.5, yellow=0.8),
            )
        )


def test_zero_weight_child_is_allowed_beside_others():
    # Given weights 0 and 2, then the zero-weight child counts for nothing
    card = card_of(
        Indicator(name="A", baseline=0, target=1, value=0.0, weight=0),
        Indicator(name="B", baseline=0, target=1, value=0.6, weight=2),
    )
    assert evaluate(card).score == pytest.approx(0.6)


def test_link_to_unknown_goal_is_refused():
    card = card_of(Indicator(name="A", baseline=0, target=1))
    card.goal_links = [("G", "Nope")]
    with pytest.raises(DefinitionError, match="'Nope'"):
        evaluate(card)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def indicators(draw):
    optimization = draw(st.sampled_from(list(Optimization)))
    baseline, target = draw(finite), draw(finite)
    assume(abs(baseline - target) > 1e-6)
    if (optimization == MIN and target > baseline) or (
        optimization in (MAX, BAND) and target < baseline
    ):
        baseline, target = target, baseline
    low, high = sorted((baseline, target))
    tolerance = (
        draw(st.floats(min_value=0, max_value=(high - low) / 4)) if optimization == BAND else 0.0
    )
    extra = draw(st.floats(min_value=0.001, max_value=1e3))
    kwargs = (
        {"min": low - extra - tolerance, "max": high + extra + tolerance}
        if optimization == BAND
        else {}
    )
    return Indicator(
        name="X",
        baseline=baseline,
        target=target,
        optimization=optimization,
        tolerance=tolerance,
        **kwargs,
    )


@given(indicators(), st.one_of(st.none(), finite))
def test_score_is_always_between_0_and_1_or_null(ind, value):
    # Given any valid indicator and any value or none
    ind.value = value
    result = evaluate(card_of(ind))
    # Then every score in the tree is within [0, 1] or null
    for node in result.walk():
        assert node.score is None or 0.0 <= node.score <= 1.0
        assert node.progress is None or 0.0 <= node.progress <= 1.0


@given(finite, finite, finite, finite)
def test_raising_a_maximize_value_never_lowers_its_score(baseline, target, v1, v2):
    # Given a maximize indicator and two values
    assume(target - baseline > 1e-6)
    low, high = sorted((v1, v2))
    ind = Indicator(name="X", baseline=baseline, target=target)
    # Then the higher value never scores lower
    assert performance(ind, high) >= performance(ind, low)
