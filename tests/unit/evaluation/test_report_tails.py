"""The per-variable table's values to check: synthetic tails beside real ones."""

import numpy as np
import pandas as pd
import pytest

from cdmtehr.evaluation._frames import resolve_roles
from cdmtehr.evaluation.features import prepare_cohorts
from cdmtehr.evaluation.report import _check_text, _variables_section, far_bounds, far_values

ROLES = dict(id_col="id", time_col="t", num_cols=["pH", "HR"], static_cols=["Age"])


def _frame(n_patients, errors, seed):
    """Three pH measurements per patient near 7.4; `errors` patients have one pH of 735."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n_patients), 3)
    ph = np.round(rng.normal(7.4, 0.05, ids.size), 2)
    ph[np.arange(errors) * 3] = 735.0
    return pd.DataFrame({
        "id": ids, "t": np.tile([0, 1, 2], n_patients), "pH": ph,
        "HR": np.round(rng.normal(80, 10, ids.size)),
        "Age": np.repeat(rng.integers(20, 90, n_patients), 3).astype(float),
    })


def _cohorts(real, synthetic):
    frames = {"real": real, "synthetic": synthetic, "holdout": None}
    roles = resolve_roles(frames, **ROLES, min_patients=1)
    cohorts, _ = prepare_cohorts(frames, roles, max_patients=None, random_state=0)
    return cohorts["real"], cohorts["synthetic"]


def test_synthetic_outliers_more_frequent_than_real_ones_are_flagged():
    real, synthetic = _cohorts(_frame(400, 2, seed=0), _frame(100, 3, seed=1))
    note, flagged = _check_text("pH", real, {"pH": (6.5, 8.0)}, synthetic)
    assert flagged
    assert "real 2 of 400 patients outside 6.5&ndash;8 (735)" in note
    assert "synthetic 3 of 100 patients (735)" in note
    assert "more often in synthetic patients: 3 % against 0.5 %" in note


def test_synthetic_tails_as_rare_as_real_ones_are_shown_but_not_flagged():
    real, synthetic = _cohorts(_frame(400, 4, seed=0), _frame(100, 1, seed=1))
    note, flagged = _check_text("pH", real, {"pH": (6.5, 8.0)}, synthetic)
    assert not flagged
    assert note == ("real 4 of 400 patients outside 6.5&ndash;8 (735); "
                    "synthetic 1 of 100 patients (735)")
    # None in the synthetic cohort: said as such.
    real, synthetic = _cohorts(_frame(400, 4, seed=0), _frame(100, 0, seed=1))
    note, flagged = _check_text("pH", real, {"pH": (6.5, 8.0)}, synthetic)
    assert not flagged and note.endswith("synthetic 0 of 100 patients")


def test_synthetic_outliers_without_real_ones_are_flagged():
    real, synthetic = _cohorts(_frame(400, 0, seed=0), _frame(100, 2, seed=1))
    note, flagged = _check_text("pH", real, None, synthetic)  # no plausible range: the bulk
    assert flagged
    assert note.startswith("<b>more often in synthetic patients: 2 % against 0 %</b>")
    assert "real 0 of 400 patients far from the rest (outside" in note
    assert "synthetic 2 of 100 patients (735)" in note


def test_synthetic_values_are_judged_by_the_real_bulk():
    # A synthetic cohort that is all tail would hide its tail by its own quartiles.
    real = _frame(400, 0, seed=0)
    synthetic = _frame(100, 0, seed=1).assign(pH=lambda f: np.where(f.id < 50, 7.4, 70.0))
    real, synthetic = _cohorts(real, synthetic)
    note, flagged = _check_text("pH", real, None, synthetic)
    assert flagged and "synthetic 50 of 100 patients (70)" in note


def test_nothing_to_check_leaves_the_cell_empty_and_static_columns_are_counted():
    real, synthetic = _cohorts(_frame(400, 0, seed=0), _frame(100, 0, seed=1))
    assert _check_text("HR", real, {"HR": (1, 300)}, synthetic) == ("", False)
    note, flagged = _check_text("Age", real, {"Age": (15, 30)}, synthetic)
    assert note.startswith("<b>") or "real" in note
    n_real = real.static.loc[lambda s: s["Age"] > 30].shape[0]
    assert f"real {n_real} of 400 patients outside 15&ndash;30" in note


def test_the_table_shades_a_flagged_cell():
    real, synthetic = _cohorts(_frame(400, 2, seed=0), _frame(100, 3, seed=1))
    table = pd.DataFrame(
        {"kind": ["numeric"], "missing_real": [0.0], "missing_synthetic": [0.0],
         "missing_diff": [0.0], "mean_real": [7.4], "mean_synthetic": [7.4], "ks": [0.01],
         "w1": [0.01], "autocorr_diff": [0.0], "tv": [np.nan]},
        index=["pH"],
    )
    html = _variables_section(table, real, {"pH": (6.5, 8.0)}, synthetic)
    assert "<td class='check cell-poor'><b>more often in synthetic patients" in html
    # Without the synthetic cohort the column lists the real values only, as before.
    html = _variables_section(table, real, {"pH": (6.5, 8.0)})
    assert "<td class='check'>real 2 of 400 patients outside 6.5&ndash;8 (735)</td>" in html


@pytest.mark.parametrize("plausible", [None, (6.5, 8.0)])
def test_far_values_are_the_values_outside_far_bounds(plausible):
    values = np.r_[np.random.default_rng(0).normal(7.4, 0.05, 500), 735.0, 1.0]
    low, high = far_bounds(values, plausible)
    assert low < 7.0 and 7.8 < high < 735
    assert far_values(values, plausible).tolist() == [1.0, 735.0]
    assert far_bounds(values[:5]) is None  # too few to judge a bulk by
