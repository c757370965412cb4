"""Figure rules: log axes for heavy tails, bands within the observed range, greying by pairs."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from cdmtehr.evaluation.care import care_tables  # noqa: E402
from cdmtehr.evaluation.features import prepare_cohorts  # noqa: E402
from cdmtehr.evaluation._frames import resolve_roles  # noqa: E402
from cdmtehr.evaluation._plots import (  # noqa: E402
    care_figure,
    correlations_figure,
    marginals_figure,
    missingness_figure,
    trajectories_figure,
    use_log_axis,
)


def _cohorts(n=40, length=6, seed=0):
    """Real and synthetic cohorts: a heavy-tailed lab, a skewed output near 0, a constant."""
    rng = np.random.default_rng(seed)

    def frame(offset):
        rows = n * length
        return pd.DataFrame(
            {
                "pid": np.repeat(np.arange(n) + offset, length),
                "t": np.tile(np.arange(length), n),
                "ALT": rng.lognormal(np.log(45), 1.3, rows),
                "Urine": rng.exponential(80, rows),
                "Flat": np.ones(rows),
            }
        )

    frames = {"real": frame(0), "synthetic": frame(1000), "holdout": None}
    roles = resolve_roles(frames, id_col="pid", time_col="t", static_cols=[])
    cohorts, _ = prepare_cohorts(frames, roles, max_patients=None, random_state=0)
    return cohorts["real"], cohorts["synthetic"]


def test_heavy_tailed_positive_values_get_a_log_axis():
    rng = np.random.default_rng(0)
    assert use_log_axis(rng.lognormal(np.log(45), 1.3, 1000))
    assert not use_log_axis(rng.normal(80, 10, 1000))
    assert not use_log_axis(np.r_[0.0, rng.lognormal(0, 2, 1000)])  # zero: no log axis


def test_marginals_log_axis_and_no_panel_for_a_constant_column():
    real, synthetic = _cohorts()
    per_variable = pd.DataFrame({"ks": {"ALT": 0.1, "Urine": 0.1, "Flat": 0.0}})
    figure = marginals_figure(real, synthetic, per_variable, units={"ALT": "IU/L"})
    shown = [ax for ax in figure.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in shown]
    assert not any(t.startswith("Flat") for t in titles)
    alt = shown[[t.startswith("ALT") for t in titles].index(True)]
    assert alt.get_xscale() == "log"
    assert "IU/L" in alt.get_xlabel()
    for ax in shown:
        assert ax.get_xlabel() and ax.get_ylabel()


def test_a_variable_with_a_handful_of_values_gets_a_note_not_a_histogram():
    real, synthetic = _cohorts()
    synthetic.frame.loc[synthetic.frame.index[4:], "ALT"] = np.nan  # 4 synthetic values left
    per_variable = pd.DataFrame({"ks": {}}, dtype=float)
    figure = marginals_figure(real, synthetic, per_variable)
    alt = next(ax for ax in figure.axes if ax.get_title().startswith("ALT"))
    assert not alt.axison and not alt.patches
    assert "too few to draw" in alt.texts[0].get_text()


def test_trajectory_bands_stay_within_the_observed_range():
    real, synthetic = _cohorts()
    figure = trajectories_figure(real, synthetic, time_label="time step (t)")
    urine = next(ax for ax in figure.axes if ax.get_title() == "Urine")
    lowest = min(
        np.concatenate([real.frame["Urine"], synthetic.frame["Urine"]])
    )  # sd > mean for an exponential: mean - sd would be below 0
    for band in urine.collections:
        for path in band.get_paths():
            assert path.vertices[:, 1].min() >= lowest - 1e-9
    assert urine.get_xlabel() == "time step (t)"
    assert not any(ax.get_title() == "Flat" for ax in figure.axes)


def test_correlation_cells_need_enough_pairs_on_both_sides():
    names = ["a", "b", "c"]
    corr = pd.DataFrame(
        [[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]], index=names, columns=names
    )
    pairs_real = np.full((3, 3), 100)
    pairs_syn = np.full((3, 3), 100)
    pairs_syn[0, 1] = pairs_syn[1, 0] = 3  # a-b: rare among synthetic patients
    pairs_real[1, 2] = pairs_real[2, 1] = 3  # b-c: rare among real patients
    figure = correlations_figure(corr, corr + 0.1, pairs_real, pairs_syn, min_pairs=50)
    combined = np.ma.filled(figure.axes[0].images[0].get_array().astype(float), np.nan)
    difference = np.ma.filled(figure.axes[1].images[0].get_array().astype(float), np.nan)
    assert np.isnan(combined[1, 0]) and np.isfinite(combined[0, 1])  # synthetic a-b grey
    assert np.isnan(combined[1, 2]) and np.isfinite(combined[2, 1])  # real b-c grey
    assert np.isnan(difference[0, 1]) and np.isnan(difference[1, 2])
    assert np.isfinite(difference[0, 2])


def test_the_difference_panel_of_missingness_names_its_variables():
    observed = np.random.default_rng(0).uniform(size=(6, 3))
    figure = missingness_figure(observed, observed, ["HR", "MAP", "pH"], "time step (hour)")
    right = figure.axes[2]
    assert [t.get_text() for t in right.get_yticklabels()] == ["HR", "MAP", "pH"]
    assert all(ax.get_xlabel() == "time step (hour)" for ax in figure.axes[:3])


def test_care_figure_draws_gaps_and_names_the_farthest_repeats():
    real, synthetic = _cohorts()
    stats = care_tables(real, synthetic)
    figure = care_figure(stats.gap_counts, stats.per_variable, n_labels=2)
    left, right = figure.axes
    assert left.get_yscale() == "log"
    assert left.get_xticklabels()[-1].get_text() == "24+"
    assert len(right.texts) == 2


def test_care_figure_is_left_out_without_any_gap():
    counts = pd.DataFrame({"real": [0, 0], "synthetic": [3, 1]}, index=[1, 2])
    assert care_figure(counts, pd.DataFrame()) is None
