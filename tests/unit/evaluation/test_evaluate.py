"""Tests of cdmtehr.evaluation: scores pass and fail as they should; report; bad input."""

import base64
import pathlib
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cdmtehr
from cdmtehr.evaluation import (
    METRICS,
    EvaluationResult,
    evaluate,
    patient_features,
    real_vs_real,
    write_report,
)
from cdmtehr.evaluation.fidelity import autocorrelation, ks_wasserstein, total_variation
from cdmtehr.exceptions import DataWarning, InvalidDataError, InvalidParameterError

DATA = pathlib.Path(cdmtehr.__file__).parent / "datasets" / "data"
ROLES = {"id_col": "patient_id", "time_col": "hour", "condition_col": "in_hospital_death"}
STATIC_NUMERIC = ("Age", "Height", "Weight_admit")


@pytest.fixture(scope="module")
def physionet():
    """900 random real patients in three disjoint parts of 300: train, other, holdout."""
    frame = pd.read_parquet(DATA / "physionet2012_seta_long.parquet")
    ids = frame["patient_id"].unique()
    ids = np.random.default_rng(0).permutation(ids)[:900]
    return [frame[frame["patient_id"].isin(ids[k::3])].reset_index(drop=True) for k in range(3)]


def _temporal_numeric(frame):
    return [c for c in frame.columns if frame[c].dtype == "float64" and c not in STATIC_NUMERIC]


def _shuffled(frame, seed=1):
    """Each temporal variable's values permuted across all rows: marginals kept, structure not."""
    frame = frame.copy()
    rng = np.random.default_rng(seed)
    for col in _temporal_numeric(frame):
        frame[col] = rng.permutation(frame[col].to_numpy())
    return frame


def _gaussian(frame, seed=2):
    """A poor model: Gaussian noise with the real mean and sd where a value was measured."""
    frame = frame.copy()
    rng = np.random.default_rng(seed)
    for col in _temporal_numeric(frame):
        measured = frame[col].notna()
        frame.loc[measured, col] = rng.normal(frame[col].mean(), frame[col].std(), measured.sum())
    return frame


def _medians(frame):
    """A poor model: every measured value replaced by the column median."""
    frame = frame.copy()
    for col in _temporal_numeric(frame):
        frame[col] = frame[col].where(frame[col].isna(), frame[col].median())
    return frame


@pytest.fixture(scope="module")
def scored(physionet):
    """Full evaluations of the other real part and of three broken cohorts against train."""
    train, other, holdout = physionet
    cohorts = {
        "real": other,
        "shuffled": _shuffled(other),
        "gaussian": _gaussian(other),
        "medians": _medians(other),
    }
    return {
        name: evaluate(train, cohort, holdout, n_splits=3, return_result=True, **ROLES)
        for name, cohort in cohorts.items()
    }


def test_evaluate_real_vs_real_scores_near_ideal(scored):
    scores = scored["real"].scores
    assert scores["disc_auroc"] < 0.65
    assert scores["disc_summary_auroc"] < 0.65 and scores["disc_sequence_auroc"] < 0.65
    assert scores["disc_accuracy_gap"] < 0.1
    assert scores["ks_mean"] < 0.1
    assert scores["missing_rate_diff"] < 0.02
    assert scores["autocorr_diff"] < 0.05
    assert scores["length_ks"] == 0.0
    assert scores["tstr_trtr_auroc_ratio"] > 0.85
    assert 0.85 < scores["dcr_ratio"] < 1.15
    assert scores["mia_auroc"] < 0.6
    assert abs(scores["nnaa_privacy_loss"]) < 0.1


@pytest.mark.parametrize("broken", ["shuffled", "gaussian", "medians"])
def test_evaluate_broken_cohorts_score_clearly_worse(scored, broken):
    real, bad = scored["real"].scores, scored[broken].scores
    assert bad["disc_auroc"] > 0.9
    assert bad["disc_summary_auroc"] > 0.85 and bad["disc_sequence_auroc"] > 0.85
    assert bad["disc_accuracy_gap"] > 0.3
    assert bad["autocorr_diff"] > 3 * real["autocorr_diff"]
    assert bad["tstr_auroc"] < real["tstr_auroc"] - 0.05
    assert bad["nnaa_train"] > 0.9


@pytest.fixture(scope="module")
def large_halves():
    """Two disjoint halves of 1400 real patients: correlations need larger cohorts."""
    frame = pd.read_parquet(DATA / "physionet2012_seta_long.parquet")
    ids = np.random.default_rng(1).permutation(frame["patient_id"].unique())[:1400]
    return [frame[frame["patient_id"].isin(ids[k::2])].reset_index(drop=True) for k in range(2)]


@pytest.mark.parametrize("broken", [_shuffled, _gaussian, _medians])
def test_evaluate_broken_cohorts_lose_the_correlations(large_halves, broken):
    train, other = large_halves
    real = evaluate(train, other, metrics=("fidelity",), **ROLES)
    bad = evaluate(train, broken(other), metrics=("fidelity",), **ROLES)
    assert real["corr_diff"] < 0.07
    assert bad["corr_diff"] > real["corr_diff"] + 0.05
    pearson = evaluate(train, broken(other), metrics=("fidelity",), correlation="pearson", **ROLES)
    assert pearson["corr_diff"] > real["corr_diff"]


def test_evaluate_shuffled_cohort_keeps_marginals(scored):
    # Per-variable distributions are untouched by the shuffle, so only the structural scores
    # can see it: KS must not, which shows the scores measure different things.
    assert scored["shuffled"].scores["ks_mean"] == pytest.approx(scored["real"].scores["ks_mean"])
    assert scored["gaussian"].scores["ks_mean"] > 2 * scored["real"].scores["ks_mean"]


def test_evaluate_copied_training_data_fails_privacy(physionet):
    train, _, holdout = physionet
    copy = train.assign(patient_id=train["patient_id"] + 10**7)
    scores = evaluate(train, copy, holdout, metrics=("privacy",), **ROLES)
    assert scores["dcr_ratio"] < 0.05
    assert scores["dcr_closer_to_train"] > 0.95
    assert scores["mia_auroc"] > 0.95
    assert scores["nnaa_train"] < 0.05
    assert scores["nnaa_privacy_loss"] > 0.3


def test_evaluate_returns_flat_dict_of_documented_floats(scored, physionet):
    train, other, _ = physionet
    scores = evaluate(train, other, metrics=("fidelity",), **ROLES)
    assert isinstance(scores, dict)
    for result in scored.values():
        for key, value in result.scores.items():
            assert key in METRICS
            assert isinstance(value, float)
    assert set(scores) <= set(scored["real"].scores)


def test_evaluate_is_deterministic(physionet):
    train, other, holdout = physionet
    small = [
        f[f["patient_id"].isin(f["patient_id"].unique()[:60])] for f in (train, other, holdout)
    ]
    first = evaluate(*small, n_splits=2, **ROLES)
    again = evaluate(*small, n_splits=2, **ROLES)
    assert first == again


def test_evaluate_without_holdout_skips_with_a_note(physionet):
    train, other, _ = physionet
    result = evaluate(
        train, other, metrics=("fidelity", "utility", "privacy"), return_result=True, **ROLES
    )
    assert "tstr_auroc" not in result.scores and "dcr_ratio" not in result.scores
    assert any("holdout" in note for note in result.notes)


def test_evaluate_infers_roles_from_dtypes(scored):
    kinds = scored["real"].per_variable["kind"]
    assert kinds["HR"] == "temporal numeric"
    assert kinds["MechVent"] == "temporal categorical"
    assert kinds["Age"] == "static numeric"
    assert kinds["ICUType"] == "static categorical"
    assert "in_hospital_death" not in kinds.index  # the condition is a label, not a feature
    assert len(kinds) == 36 + 1 + 3 + 4


def test_evaluate_does_not_modify_inputs(physionet):
    train, other, _ = physionet
    before = other.copy()
    evaluate(train, other, metrics=("fidelity",), **ROLES)
    pd.testing.assert_frame_equal(other, before)


def test_evaluate_variable_lengths_and_datetime_time(physionet):
    train, other, _ = physionet
    rng = np.random.default_rng(3)
    ids = other["patient_id"].unique()[:80]
    lengths = pd.Series(rng.integers(6, 49, len(ids)), index=ids)
    short = other[other["patient_id"].isin(ids)]
    short = short[short["hour"] < short["patient_id"].map(lengths)]
    start = pd.Timestamp("2026-01-01")
    timed = short.assign(hour=start + pd.to_timedelta(short["hour"].astype(int), unit="h"))
    base = train.assign(hour=start + pd.to_timedelta(train["hour"].astype(int), unit="h"))
    scores = evaluate(
        base,
        timed,
        metrics=("fidelity", "discriminative"),
        discriminators=("sequence",),
        n_splits=2,
        **ROLES,
    )
    assert scores["length_ks"] > 0.5
    assert 0.0 <= scores["disc_sequence_auroc"] <= 1.0


def test_evaluate_multiclass_condition(physionet):
    train, other, holdout = physionet
    roles = {**ROLES, "condition_col": "ICUType"}
    scores = evaluate(train, other, holdout, metrics=("utility",), **roles)
    assert 0.5 < scores["trtr_auroc"] <= 1.0
    assert 0.5 < scores["tstr_auroc"] <= 1.0


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda f: f.drop(columns="HR"), r"'HR' \(num_cols\) is missing from synthetic"),
        (lambda f: f.drop(columns="in_hospital_death"), r"'in_hospital_death' \(condition_col\)"),
        (lambda f: f.assign(HR=f["HR"].astype(str)), r"'HR' \(num_cols\) in synthetic must hold"),
        (lambda f: f.assign(hour=f["hour"].where(f.index > 0)), r"'hour' \(time_col\)"),
        (lambda f: f[f["patient_id"] == f["patient_id"].iloc[0]], r"'patient_id' \(id_col\)"),
    ],
)
def test_evaluate_bad_synthetic_frame_names_the_column(physionet, mutate, match):
    train, other, _ = physionet
    with pytest.raises(InvalidDataError, match=match):
        evaluate(train, mutate(other), **ROLES)


def test_evaluate_lists_every_problem_and_suggests_names(physionet):
    train, other, holdout = physionet
    with pytest.raises(InvalidDataError, match="did you mean 'HR'") as error:
        evaluate(
            train,
            other.drop(columns=["Temp"]),
            holdout.drop(columns=["GCS"]),
            num_cols=["Hr", "Temp", "GCS"],
            cat_cols=[],
            static_cols=[],
            **ROLES,
        )
    problems = " ".join(error.value.problems)
    assert "'Temp' (num_cols) is missing from synthetic" in problems
    assert "'GCS' (num_cols) is missing from holdout" in problems


def test_evaluate_missing_id_column_raises(physionet):
    train, other, _ = physionet
    with pytest.raises(InvalidDataError, match="'stay_id' \\(id_col\\)"):
        evaluate(train, other, id_col="stay_id", time_col="hour")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_patients", 3),
        ("n_splits", 1),
        ("metrics", ("fidelity", "beauty")),
        ("discriminators", "summary"),
        ("max_lag", 0),
        ("correlation", "kendall"),
    ],
)
def test_evaluate_bad_option_raises(physionet, option, value):
    train, other, _ = physionet
    with pytest.raises(InvalidParameterError, match=f"'{option}' parameter"):
        evaluate(train, other, **{option: value}, **ROLES)


def test_result_to_frame_explains_each_score(scored):
    table = scored["gaussian"].to_frame()
    assert list(table.columns) == ["family", "value", "ideal", "verdict", "meaning"]
    assert table.loc["disc_auroc", "verdict"] == "poor"
    assert scored["real"].to_frame().loc["disc_auroc", "verdict"] == "good"
    assert table["meaning"].str.len().min() > 10


def test_real_vs_real_gives_the_floor(physionet):
    train, _, _ = physionet
    result = real_vs_real(train, metrics=("fidelity", "privacy"), return_result=True, **ROLES)
    assert isinstance(result, EvaluationResult)
    assert result.details["n_patients"] == {"real": 100, "synthetic": 100, "holdout": 100}
    assert 0.7 < result.scores["dcr_ratio"] < 1.3
    assert result.scores["ks_mean"] < 0.15


def test_patient_features_summarizes_each_patient():
    frame = pd.DataFrame(
        {
            "id": np.repeat([7, 3], 4),
            "t": [3, 0, 1, 2, 0, 1, 2, 3],
            "hr": [90.0, 80.0, np.nan, 100.0, np.nan, np.nan, np.nan, np.nan],
            "vent": pd.Categorical(["1", None, "1", None, None, None, None, "1"]),
            "age": [60.0] * 4 + [70.0] * 4,
        }
    )
    features = patient_features(frame, id_col="id", time_col="t")
    assert list(features.index) == [3, 7]
    row = features.loc[7]
    assert row["hr__mean"] == pytest.approx(90.0)
    assert row["hr__last"] == 90.0  # time order, not row order
    assert row["hr__min"] == 80.0 and row["hr__max"] == 100.0
    assert row["hr__missing"] == 0.25
    assert row["vent==1"] == 0.5 and row["vent==<missing>"] == 0.5
    assert row["age"] == 60.0 and row["__length"] == 4.0
    assert np.isnan(features.loc[3, "hr__mean"]) and features.loc[3, "hr__missing"] == 1.0


@pytest.mark.parametrize("kind", ["cat_cols", "num_cols", None])
def test_patient_features_static_column_takes_the_named_kind(kind):
    frame = pd.DataFrame(
        {
            "id": np.repeat([7, 3], 2),
            "t": [0, 1, 0, 1],
            "hr": [90.0, 80.0, 70.0, np.nan],
            "unit": np.array([2, 2, 4, 4], dtype="int64"),
        }
    )
    roles = {"num_cols": ["hr"], "cat_cols": [], "static_cols": ["unit"]}
    if kind is not None:
        roles[kind] = [*roles[kind], "unit"]

    features = patient_features(frame, id_col="id", time_col="t", **roles)

    if kind == "cat_cols":  # an integer code named categorical: one indicator per level
        assert features.loc[7, "unit==2"] == 1.0 and features.loc[3, "unit==4"] == 1.0
        assert "unit" not in features.columns
    else:  # named numeric, or numeric by its dtype
        assert features["unit"].tolist() == [4.0, 2.0]
    assert "unit__mean" not in features.columns  # static, not temporal


def test_ks_wasserstein_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.gamma(2.0, size=300)
    ks, w1 = ks_wasserstein(a, b)
    assert ks == pytest.approx(stats.ks_2samp(a, b).statistic)
    assert w1 == pytest.approx(stats.wasserstein_distance(a, b))


def test_total_variation_counts_missing_as_a_level():
    a = pd.Series(["x", "x", None, "y"])
    assert total_variation(a, a, ("x", "y")) == 0.0
    assert total_variation(a, pd.Series([None] * 4), ("x", "y")) == pytest.approx(0.75)


def _autocorrelation_by_loops(values, valid, max_lag):
    """Reference: the documented estimator written one patient and variable at a time."""
    n, _, k = values.shape
    products, pairs = np.zeros((max_lag, k)), np.zeros((max_lag, k))
    for i in range(n):
        for j in range(k):
            series = pd.Series(values[i, valid[i], j]).ffill().to_numpy()
            defined = ~np.isnan(series)
            if not defined.any():
                continue
            kept = series[defined]
            sd = kept.std()
            z = np.where(defined, (series - kept.mean()) / sd if sd > 0 else 0.0, np.nan)
            for lag in range(1, max_lag + 1):
                both = ~np.isnan(z[lag:]) & ~np.isnan(z[:-lag])
                products[lag - 1, j] += np.sum((z[lag:] * z[:-lag])[both])
                pairs[lag - 1, j] += both.sum()
    return products / pairs


def test_autocorrelation_matches_a_loop_reference_with_gaps_and_lengths():
    rng = np.random.default_rng(0)
    n, t = 25, 12
    values = np.cumsum(rng.normal(size=(n, t, 3)), axis=1)
    values[rng.random(values.shape) < 0.4] = np.nan
    valid = np.arange(t)[None, :] < rng.integers(3, t + 1, n)[:, None]
    expected = _autocorrelation_by_loops(values, valid, max_lag=3)
    np.testing.assert_allclose(autocorrelation(values, valid, max_lag=3), expected, atol=1e-9)


def test_autocorrelation_of_ar1_and_of_constants():
    rng = np.random.default_rng(0)
    n, t, phi = 400, 48, 0.8
    x = np.zeros((n, t))
    x[:, 0] = rng.normal(size=n)
    for step in range(1, t):
        x[:, step] = phi * x[:, step - 1] + np.sqrt(1 - phi**2) * rng.normal(size=n)
    values = np.stack([x, np.full((n, t), 5.0)], axis=2)
    acf = autocorrelation(values, np.ones((n, t), dtype=bool), max_lag=3)
    # Centring each 48-step series on its own mean lowers the estimate a little.
    assert acf[0, 0] == pytest.approx(phi, abs=0.1)
    assert acf[0, 0] > acf[1, 0] > acf[2, 0] > 0.2
    assert np.all(acf[:, 1] == 0.0)


def test_write_report_embeds_plots_and_tables(scored, physionet, tmp_path):
    train, other, holdout = physionet
    path = write_report(
        train,
        other,
        tmp_path / "report.html",
        holdout,
        scores=scored["real"],
        baseline=scored["real"].scores,
        **ROLES,
    )
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    images = page.split("data:image/png;base64,")[1:]
    assert len(images) >= 6
    for image in images:
        assert base64.b64decode(image.split("'", 1)[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table>" in page and "disc_auroc" in page and "Albumin" in page
    assert "http://" not in page and "https://" not in page  # self-contained


def test_write_report_computes_fidelity_tables_for_a_score_dict(physionet, tmp_path):
    train, other, _ = physionet
    path = write_report(
        train,
        other,
        tmp_path / "r.html",
        scores={"disc_auroc": 0.51},
        title="Tiny <check>",
        max_patients=60,
        **ROLES,
    )
    page = path.read_text(encoding="utf-8")
    assert "Tiny &lt;check&gt;" in page
    assert "0.510" in page and "ks" in page


def test_write_report_without_matplotlib_says_how_to_install(physionet, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    train, other, _ = physionet
    with pytest.raises(ImportError, match=r"cdmtehr\[report\]"):
        write_report(train, other, tmp_path / "r.html", **ROLES)


def test_evaluate_warns_about_columns_without_a_role(physionet):
    train, other, _ = physionet
    with pytest.warns(DataWarning, match="'Temp'"):
        scores = evaluate(
            train,
            other,
            num_cols=["HR"],
            cat_cols=[],
            static_cols=[],
            metrics=("fidelity",),
            **ROLES,
        )
    assert scores["ks_mean"] < 0.1


def test_evaluate_rejects_a_non_dataframe(physionet):
    train, _, _ = physionet
    with pytest.raises(TypeError, match="'synthetic' must be a pandas DataFrame"):
        evaluate(train, train.to_numpy(), **ROLES)
