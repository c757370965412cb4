"""Every score has a family and a meaning; every band orders values the right way round."""

import math

import numpy as np
import pytest

from cdmtehr.evaluation import METRICS
from cdmtehr.evaluation._glossary import FAMILIES, Metric

BANDED = {name: metric for name, metric in METRICS.items() if metric.rule != "info"}
RANK = {"good": 0, "fair": 1, "poor": 2}


def test_every_metric_has_a_family_and_a_meaning():
    for name, metric in METRICS.items():
        assert metric.family in FAMILIES, name
        assert metric.meaning.strip().endswith((".", ")", "?")), name
        assert metric.rule in ("info", "lower", "higher", "near"), name


def test_every_family_has_banded_metrics():
    for family in FAMILIES:
        assert any(m.family == family for m in BANDED.values()), family


def test_info_metrics_have_no_band_and_no_verdict():
    for name, metric in METRICS.items():
        if metric.rule == "info":
            assert math.isnan(metric.good) and math.isnan(metric.fair), name
            assert metric.verdict(0.5) == "", name


@pytest.mark.parametrize("name", sorted(BANDED))
def test_the_band_is_finite_and_good_is_inside_fair(name):
    metric = BANDED[name]
    assert np.isfinite(metric.good) and np.isfinite(metric.fair)
    if metric.rule == "higher":
        assert metric.good > metric.fair
    else:
        assert 0 < metric.good < metric.fair


@pytest.mark.parametrize("name", sorted(BANDED))
def test_verdicts_get_worse_away_from_the_ideal(name):
    metric = BANDED[name]
    if metric.rule == "higher":
        best, limits, direction = math.inf, (metric.good, metric.fair), -1
    else:
        best = metric.target if metric.rule == "near" else 0.0
        limits, direction = (best + metric.good, best + metric.fair), 1
    good, fair = limits
    inside = -direction * 1e-9  # just inside a limit (1.0 + 0.1 - 1.0 > 0.1 in floats)
    assert metric.verdict(good + inside) == "good"
    assert metric.verdict((good + fair) / 2) == "fair"
    assert metric.verdict(fair + inside) == "fair"
    assert metric.verdict(fair + direction * 1e-6) == "poor"
    start = best if metric.rule == "near" else good - direction * 0.5
    values = np.linspace(start, fair + direction * 0.5, 101)
    ranks = [RANK[metric.verdict(v)] for v in values]
    assert ranks == sorted(ranks) and ranks[0] == 0 and ranks[-1] == 2
    if metric.rule == "near":  # as far below the target is judged the same
        for gap in (metric.good / 2, (metric.good + metric.fair) / 2, metric.fair + 0.01):
            assert metric.verdict(best - gap) == metric.verdict(best + gap)


@pytest.mark.parametrize("name", sorted(BANDED))
def test_the_stated_ideal_is_good(name):
    metric = BANDED[name]
    try:
        ideal = float(metric.ideal)
    except ValueError:  # ">= 1", "real vs real": no single value
        return
    assert metric.verdict(ideal) == "good"


@pytest.mark.parametrize("value", [None, np.nan, np.inf, -np.inf])
def test_no_verdict_for_a_missing_score(value):
    for metric in BANDED.values():
        assert metric.verdict(value) == ""


def test_verdict_rules_on_a_made_up_metric():
    lower = Metric("fidelity", "x.", "0", "lower", 0.1, 0.2)
    assert [lower.verdict(v) for v in (0.0, 0.1, 0.15, 0.2, 0.3)] == [
        "good", "good", "fair", "fair", "poor"
    ]
    higher = Metric("utility", "x.", "1", "higher", 0.9, 0.8)
    assert [higher.verdict(v) for v in (1.0, 0.9, 0.85, 0.8, 0.7)] == [
        "good", "good", "fair", "fair", "poor"
    ]
    near = Metric("care", "x.", "1", "near", 0.1, 0.2, 1.0)
    assert [near.verdict(v) for v in (1.0, 0.95, 1.15, 0.85, 1.3, 0.7)] == [
        "good", "good", "fair", "fair", "poor", "poor"
    ]
