"""evaluate: scores pass and fail as they should, the result explains itself, bad input."""

import numpy as np
import pandas as pd
import pytest
from helpers.cohorts import PHYSIONET_ROLES as ROLES
from helpers.cohorts import gaussian, medians, read_physionet, shuffled

from cdmtehr.evaluation import METRICS, EvaluationResult, evaluate, real_vs_real
from cdmtehr.exceptions import DataWarning, InvalidDataError, InvalidParameterError


@pytest.mark.slow  # the scores of four full evaluations
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


@pytest.mark.slow  # the scores of four full evaluations
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
    frame = read_physionet()
    ids = np.random.default_rng(1).permutation(frame["patient_id"].unique())[:1400]
    return [frame[frame["patient_id"].isin(ids[k::2])].reset_index(drop=True) for k in range(2)]


@pytest.mark.parametrize("broken", [shuffled, gaussian, medians])
def test_evaluate_broken_cohorts_lose_the_correlations(large_halves, broken):
    train, other = large_halves
    real = evaluate(train, other, metrics=("fidelity",), **ROLES)
    bad = evaluate(train, broken(other), metrics=("fidelity",), **ROLES)
    assert real["corr_diff"] < 0.07
    assert bad["corr_diff"] > real["corr_diff"] + 0.05
    pearson = evaluate(train, broken(other), metrics=("fidelity",), correlation="pearson", **ROLES)
    assert pearson["corr_diff"] > real["corr_diff"]


@pytest.mark.slow  # the scores of four full evaluations
def test_evaluate_shuffled_cohort_keeps_marginals(scored):
    # Per-variable distributions are untouched by the shuffle, so only the structural scores
    # can see it: KS must not, which shows the scores measure different things.
    assert scored["shuffled"].scores["ks_mean"] == pytest.approx(scored["real"].scores["ks_mean"])
    assert scored["gaussian"].scores["ks_mean"] > 2 * scored["real"].scores["ks_mean"]


def test_evaluate_copied_training_data_fails_privacy(three_parts):
    train, _, holdout = three_parts
    copy = train.assign(patient_id=train["patient_id"] + 10**7)
    scores = evaluate(train, copy, holdout, metrics=("privacy",), **ROLES)
    assert scores["dcr_ratio"] < 0.05
    assert scores["dcr_closer_to_train"] > 0.95
    assert scores["mia_auroc"] > 0.95
    assert scores["nnaa_train"] < 0.05
    assert scores["nnaa_privacy_loss"] > 0.3


@pytest.mark.slow  # the scores of four full evaluations
def test_evaluate_returns_flat_dict_of_documented_floats(scored, three_parts):
    train, other, _ = three_parts
    scores = evaluate(train, other, metrics=("fidelity",), **ROLES)
    assert isinstance(scores, dict)
    for result in scored.values():
        for key, value in result.scores.items():
            assert key in METRICS
            assert isinstance(value, float)
    assert set(scores) <= set(scored["real"].scores)


def test_evaluate_is_deterministic(three_parts):
    train, other, holdout = three_parts
    small = [
        f[f["patient_id"].isin(f["patient_id"].unique()[:60])] for f in (train, other, holdout)
    ]
    first = evaluate(*small, n_splits=2, **ROLES)
    again = evaluate(*small, n_splits=2, **ROLES)
    assert first == again


def test_evaluate_without_holdout_skips_with_a_note(three_parts):
    train, other, _ = three_parts
    result = evaluate(
        train, other, metrics=("fidelity", "utility", "privacy"), return_result=True, **ROLES
    )
    assert "tstr_auroc" not in result.scores and "dcr_ratio" not in result.scores
    assert any("holdout" in note for note in result.notes)


def test_evaluate_infers_roles_from_dtypes(three_parts):
    train, other, _ = three_parts
    result = evaluate(train, other, metrics=("fidelity",), return_result=True, **ROLES)
    kinds = result.per_variable["kind"]
    assert kinds["HR"] == "temporal numeric"
    assert kinds["MechVent"] == "temporal categorical"
    assert kinds["Age"] == "static numeric"
    assert kinds["ICUType"] == "static categorical"
    assert "in_hospital_death" not in kinds.index  # the condition is a label, not a feature
    assert len(kinds) == 36 + 1 + 3 + 4


def test_evaluate_does_not_modify_inputs(three_parts):
    train, other, _ = three_parts
    before = other.copy()
    evaluate(train, other, metrics=("fidelity",), **ROLES)
    pd.testing.assert_frame_equal(other, before)


def test_evaluate_variable_lengths_and_datetime_time(three_parts):
    train, other, _ = three_parts
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


def test_evaluate_multiclass_condition(three_parts):
    train, other, holdout = three_parts
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
def test_evaluate_bad_synthetic_frame_names_the_column(three_parts, mutate, match):
    train, other, _ = three_parts
    with pytest.raises(InvalidDataError, match=match):
        evaluate(train, mutate(other), **ROLES)


def test_evaluate_lists_every_problem_and_suggests_names(three_parts):
    train, other, holdout = three_parts
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


def test_evaluate_missing_id_column_raises(three_parts):
    train, other, _ = three_parts
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
def test_evaluate_bad_option_raises(three_parts, option, value):
    train, other, _ = three_parts
    with pytest.raises(InvalidParameterError, match=f"'{option}' parameter"):
        evaluate(train, other, **{option: value}, **ROLES)


@pytest.mark.slow  # the scores of four full evaluations
def test_result_to_frame_explains_each_score(scored):
    table = scored["gaussian"].to_frame()
    assert list(table.columns) == ["family", "value", "ideal", "verdict", "meaning"]
    assert table.loc["disc_auroc", "verdict"] == "poor"
    assert scored["real"].to_frame().loc["disc_auroc", "verdict"] == "good"
    assert table["meaning"].str.len().min() > 10


def test_real_vs_real_gives_the_floor(three_parts):
    train, _, _ = three_parts
    result = real_vs_real(train, metrics=("fidelity", "privacy"), return_result=True, **ROLES)
    assert isinstance(result, EvaluationResult)
    assert result.details["n_patients"] == {"real": 100, "synthetic": 100, "holdout": 100}
    assert 0.7 < result.scores["dcr_ratio"] < 1.3
    assert result.scores["ks_mean"] < 0.15


def test_evaluate_warns_about_columns_without_a_role(three_parts):
    train, other, _ = three_parts
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


def test_evaluate_rejects_a_non_dataframe(three_parts):
    train, _, _ = three_parts
    with pytest.raises(TypeError, match="'synthetic' must be a pandas DataFrame"):
        evaluate(train, train.to_numpy(), **ROLES)


def _first_patients(frame, n=60):
    return frame[frame["patient_id"].isin(frame["patient_id"].unique()[:n])]


def test_evaluate_with_a_holdout_discriminates_against_it(three_parts):
    train, _, holdout = (_first_patients(f) for f in three_parts)
    # Copies of the holdout's patients: against the holdout every synthetic patient has a
    # twin of the other label, which fools the cross-validated classifier systematically.
    copies = holdout.assign(patient_id=holdout["patient_id"] + 10**7)
    options = dict(metrics=("discriminative",), discriminators=("summary",), n_splits=2)
    against_holdout = evaluate(train, copies, holdout, return_result=True, **options, **ROLES)
    against_training = evaluate(train, copies, return_result=True, **options, **ROLES)
    assert against_holdout.details["disc_reference"] == "holdout"
    assert against_training.details["disc_reference"] == "training"
    assert against_holdout.scores["disc_summary_auroc"] < 0.3
    assert against_training.scores["disc_summary_auroc"] > 0.35


def test_real_vs_real_gives_every_new_score_its_floor(three_parts):
    train, _, _ = three_parts
    result = real_vs_real(
        _first_patients(train, 90), metrics=("care", "discriminative"), return_result=True,
        **ROLES,
    )  # fmt: skip
    for name in ("sequence", "sequence_masks", "sequence_values"):
        assert f"disc_{name}_auroc" in result.scores
    care = [key for key in METRICS if METRICS[key].family == "care"]
    assert care and set(care) <= set(result.scores)
    assert result.details["disc_reference"] == "holdout"
    assert set(result.details["care_per_variable"].index) >= {"HR", "Albumin"}
    assert 0.5 < result.scores["care_patterns_ratio"] < 2
