"""No public call mutates the caller's objects.

Each test takes deep copies of everything it passes, makes one public call, and checks deep
equality afterwards: values, dtypes, index, column order, names and ``attrs``. The frame is
built to tempt in-place edits: shuffled rows under a non-default index, every dtype the data
layer converts (categorical, nullable integers, strings, booleans, tz-aware datetimes), NaN.
"""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
from helpers.frames import TINY

from cdmtehr import CDMTSynthesizer
from cdmtehr.evaluation import evaluate, patient_features
from cdmtehr.preprocessing import SequencePreprocessor

ROLES = {
    "id_col": "pid",
    "time_col": "t",
    "num_cols": ["hr", "count"],
    "cat_cols": ["vent", "flag"],
    "static_cols": ["age", "sex"],
    "condition_col": "outcome",
}


def tempting_frame(n_patients=12, length=4, seed=0):
    """Shuffled rows of `n_patients` stays, with an index of strings and attrs set."""
    rng = np.random.default_rng(seed)
    n_rows = n_patients * length
    pid = np.repeat(np.arange(n_patients) + 1000 * seed, length)
    start = pd.Timestamp("2021-03-27 22:00", tz="Europe/Paris")
    df = pd.DataFrame(
        {
            "pid": pid,
            "t": start + pd.to_timedelta(np.tile(np.arange(length), n_patients), unit="h"),
            "hr": np.where(rng.random(n_rows) < 0.3, np.nan, rng.normal(80, 10, n_rows)),
            "count": pd.array(np.where(rng.random(n_rows) < 0.2, None, rng.integers(0, 5, n_rows)),
                              dtype="Int64"),
            "vent": pd.Categorical(rng.choice(["on", "off", None], n_rows),
                                   categories=["on", "off", "unused"]),
            "flag": rng.random(n_rows) < 0.5,
            "age": np.repeat(rng.integers(20, 90, n_patients).astype(float), length),
            "sex": pd.Series(np.repeat(rng.choice(["F", "M"], n_patients), length), dtype="str"),
            "outcome": np.repeat(np.arange(n_patients) % 2, length).astype("int8"),
        }
    )
    df = df.iloc[rng.permutation(n_rows)]
    df.index = [f"row-{i}" for i in range(n_rows)]
    df.index.name = "row"
    df.columns.name = "variable"
    df.attrs["source"] = "test"
    return df


def assert_unchanged(after, before):
    """Deep equality of what the caller passed, before and after the call."""
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(after, before, check_exact=True)
        assert after.attrs == before.attrs
        assert after.columns.name == before.columns.name
    elif isinstance(before, dict):
        assert after.keys() == before.keys()
        for key in before:
            assert_unchanged(after[key], before[key])
    elif isinstance(before, np.ndarray):
        np.testing.assert_array_equal(after, before)
        assert after.dtype == before.dtype
    else:
        assert after == before


@pytest.fixture(scope="module")
def real():
    return tempting_frame(seed=0)


@pytest.fixture(scope="module")
def fitted(real):
    return CDMTSynthesizer(**TINY).fit(real.copy(deep=True), **ROLES)


def test_fit_does_not_mutate(real):
    df, roles = real.copy(deep=True), copy.deepcopy(ROLES)

    CDMTSynthesizer(**TINY).fit(df, **roles)

    assert_unchanged(df, real)
    assert roles == ROLES


@pytest.mark.parametrize(
    "condition",
    [None, 1, {0: 2, 1: 3}, [0, 1, 1, 0, 1], np.array([1, 1, 0, 0, 1], dtype="int8"),
     pd.Series([0, 0, 1, 1, 0], index=list("abcde"))],
    ids=["none", "class", "counts", "list", "array", "series"],
)
def test_sample_does_not_mutate_its_arguments(fitted, condition):
    passed = copy.deepcopy(condition)

    fitted.sample(5, condition=passed, steps=2, random_state=0)

    if isinstance(condition, pd.Series):
        pd.testing.assert_series_equal(passed, condition)
    else:
        assert_unchanged(passed, condition)


def test_sample_leaves_the_model_unchanged(fitted):
    # Sampling twice with one seed gives the same frame: no state moves between calls.
    before = pickle.dumps(fitted.model_.state_dict())
    first = fitted.sample(4, steps=2, random_state=3, sampler="sde")

    pd.testing.assert_frame_equal(fitted.sample(4, steps=2, random_state=3, sampler="sde"), first)
    assert pickle.dumps(fitted.model_.state_dict()) == before


def test_save_and_load_do_not_mutate(fitted, tmp_path):
    params = copy.deepcopy(fitted.get_params())
    expected = fitted.sample(3, steps=2, random_state=0)
    path = tmp_path / "model.cdmt"

    fitted.save(path)
    loaded = CDMTSynthesizer.load(str(path))

    assert fitted.get_params() == params
    pd.testing.assert_frame_equal(fitted.sample(3, steps=2, random_state=0), expected)
    pd.testing.assert_frame_equal(loaded.sample(3, steps=2, random_state=0), expected)
    loaded.save(tmp_path / "again.cdmt")  # a loaded model saves as well
    assert path.read_bytes()  # the first file is untouched by the second save


def test_preprocessor_calls_do_not_mutate(real):
    df = real.copy(deep=True)
    preprocessor = SequencePreprocessor()

    encoded = preprocessor.fit_transform(df, ROLES)
    assert_unchanged(df, real)
    preprocessor.fit(df, **ROLES)
    assert_unchanged(df, real)
    again, ids = preprocessor.transform(df, return_ids=True)
    assert_unchanged(df, real)

    arrays = {name: getattr(again, name).copy() for name in again._ARRAY_FIELDS}
    passed_ids = ids.copy()
    preprocessor.inverse_transform(again, ids=passed_ids)
    preprocessor.inverse_transform(again, id_start=7)
    for name, array in arrays.items():
        np.testing.assert_array_equal(getattr(again, name), array, err_msg=name)
    pd.testing.assert_index_equal(passed_ids, ids)
    for name in encoded._ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(encoded, name), getattr(again, name))


def test_evaluate_does_not_mutate(real, fitted):
    synthetic = fitted.sample(12, steps=2, random_state=0)
    holdout = tempting_frame(seed=1)
    frames = {"real": real, "synthetic": synthetic, "holdout": holdout}
    passed = {name: frame.copy(deep=True) for name, frame in frames.items()}
    roles = copy.deepcopy(ROLES)

    scores = evaluate(**passed, **roles, discriminators=("summary",), n_splits=2, max_lag=1)

    assert scores  # it did run

    assert_unchanged(passed, frames)
    assert roles == ROLES


@pytest.mark.filterwarnings("ignore::cdmtehr.exceptions.DataWarning")  # 'outcome' has no role
def test_patient_features_does_not_mutate(real):
    df = real.copy(deep=True)
    roles = {k: v for k, v in ROLES.items() if k != "condition_col"}

    patient_features(df, **roles)

    assert_unchanged(df, real)
