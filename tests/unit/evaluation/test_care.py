"""care_statistics: patterns, gaps, repeats, empty hours and autocorrelation on known frames."""

import numpy as np
import pandas as pd
import pytest

from cdmtehr.evaluation import care_statistics

NAN = np.nan


def _frame(ids, a, b):
    """Two patients of four hours each, numeric columns a and b."""
    return pd.DataFrame({"id": np.repeat(ids, 4), "t": list(range(4)) * 2, "a": a, "b": b})


@pytest.fixture(scope="module")
def stats():
    real = _frame(
        [1, 2],
        a=[1.0, 2.0, NAN, 4.0] + [NAN, NAN, 3.0, 1.0],
        b=[NAN, 5.0, NAN, NAN] + [NAN] * 4,
    )
    synthetic = _frame(
        [3, 4],
        a=[1.0, 2.0, 3.0, 4.0] + [NAN] * 4,
        b=[5.0, 6.0, 7.0, 8.0] + [1.0, NAN, 1.0, NAN],
    )
    return care_statistics(real, synthetic, id_col="id", time_col="t", num_cols=["a", "b"])


def test_care_counts_co_measurement_patterns_and_the_unseen_ones(stats):
    # Real measured hours: {a} three times, {a, b} once; synthetic: {a, b} four times, {b} twice.
    assert stats.summary["care_patterns_real"] == 2
    assert stats.summary["care_patterns_synthetic"] == 2
    assert stats.summary["care_patterns_ratio"] == 1
    assert stats.summary["care_unseen_pattern_share"] == pytest.approx(2 / 6)


def test_care_measures_gaps_repeats_and_first_hours(stats):
    table = stats.per_variable
    # a: real gaps 1, 2 (patient 1) and 1 (patient 2); synthetic 1, 1, 1.
    assert table.loc["a", "repeat_real"] == pytest.approx(2 / 3)
    assert table.loc["a", "repeat_synthetic"] == 1
    assert table.loc["a", "gap_ks"] == pytest.approx(1 / 3)
    assert table.loc["a", "first_hour_real"] == 1  # hours 0 and 2
    assert table.loc["a", "first_hour_synthetic"] == 0
    # b: one real measurement, so no gap; synthetic gaps 1, 1, 1 and 2.
    assert np.isnan(table.loc["b", "repeat_real"]) and np.isnan(table.loc["b", "gap_ks"])
    assert table.loc["b", "repeat_synthetic"] == pytest.approx(3 / 4)
    assert stats.summary["care_repeat_real"] == pytest.approx(2 / 3)
    assert stats.summary["care_repeat_synthetic"] == pytest.approx(6 / 7)
    assert stats.summary["care_repeat_ratio"] == pytest.approx(9 / 7)
    assert stats.summary["care_gap_ks_median"] == pytest.approx(1 / 3)
    assert list(stats.gap_counts["real"][:3]) == [2, 1, 0]


def test_care_counts_empty_hours(stats):
    assert stats.summary["care_empty_hours_real"] == pytest.approx(3 / 8)
    assert stats.summary["care_empty_hours_synthetic"] == pytest.approx(2 / 8)
    assert stats.summary["care_empty_hours_diff"] == pytest.approx(-1 / 8)


def test_care_autocorrelation_and_steps_pair_consecutive_measurements(stats):
    table = stats.per_variable
    # Real pairs of a: (1, 2), (2, 4) in patient 1 and (3, 1) in patient 2, never across.
    assert table.loc["a", "autocorr_real"] == pytest.approx(-0.5)
    assert table.loc["a", "autocorr_synthetic"] == pytest.approx(1.0)
    assert table.loc["a", "step_real"] == 2
    assert table.loc["a", "step_synthetic"] == 1
    assert stats.summary["care_autocorr_diff_mean"] == pytest.approx(1.5)


def test_care_statistics_compare_equal_numbers_of_patients():
    rng = np.random.default_rng(0)
    frames = []
    for n, offset in ((30, 0), (10, 100)):
        values = rng.normal(size=n * 5)
        values[rng.random(n * 5) < 0.4] = np.nan
        frames.append(pd.DataFrame({"id": np.repeat(np.arange(n) + offset, 5),
                                    "t": np.tile(np.arange(5), n), "x": values}))  # fmt: skip
    first = care_statistics(*frames, id_col="id", time_col="t", random_state=1)
    again = care_statistics(*frames, id_col="id", time_col="t", random_state=1)
    assert first.summary == pytest.approx(again.summary, nan_ok=True)
    counts = first.gap_counts.sum()
    assert counts["real"] < 3 * counts["synthetic"]  # 10 patients a side, not 30 against 10
