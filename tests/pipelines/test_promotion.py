"""The gating rule: point accuracy decides, an interval score breaks ties."""

from __future__ import annotations

from forecast import build_config
from pipelines.promotion import GatingRule

RULE = GatingRule(metric="mae", tie_metric="wql", tie_tolerance=0.01)


def test_clear_point_accuracy_decides_whatever_the_intervals():
    better, reason = RULE.decide({"mae": 90.0, "wql": 0.9}, {"mae": 100.0, "wql": 0.1},
                                 "champion", "3")
    assert better and "beats champion v3" in reason
    worse, reason = RULE.decide({"mae": 110.0, "wql": 0.01}, {"mae": 100.0, "wql": 0.1},
                                "champion", "3")
    assert not worse and "does not beat" in reason


def test_a_tie_on_point_accuracy_is_broken_by_the_interval_score():
    wins, reason = RULE.decide({"mae": 100.5, "wql": 0.08}, {"mae": 100.0, "wql": 0.1},
                               "champion", "3")
    assert wins and "ties champion v3" in reason and "wql 0.0800 beats 0.1000" in reason
    loses, _ = RULE.decide({"mae": 99.5, "wql": 0.12}, {"mae": 100.0, "wql": 0.1},
                           "champion", "3")
    assert not loses


def test_a_tie_without_interval_scores_keeps_the_champion():
    kept, reason = RULE.decide({"mae": 100.2}, {"mae": 100.0, "wql": 0.1}, "champion", "1")
    assert not kept and "no interval score" in reason
    off = GatingRule("mae", "none", 0.01)
    assert not off.decide({"mae": 100.2, "wql": 0.0}, {"mae": 100.0, "wql": 0.1}, "c", "1")[0]


def test_rule_comes_from_the_tracking_section():
    config = build_config({"tracking": {"metric": "mase", "tie_metric": "crps",
                                        "tie_tolerance": 0.02}})
    assert GatingRule.of(config.tracking) == GatingRule("mase", "crps", 0.02)
