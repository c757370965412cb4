"""The catalogue of bad inputs at the public API.

Every case calls `CDMTSynthesizer(...).fit`, `.sample` or `CDMTSynthesizer.load` and must be
answered by one of our exceptions (a ValueError or TypeError subclass) whose message names the
column or argument, before any training (or generation) starts, and without touching the
caller's objects. This file is the one complete list; it does not lean on any other test module.
"""

import copy
import io
import json
import math
import os
import pickle
import re
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.clinical import ROLES, good_frame
from helpers.frames import TINY

import cdmtehr._fitting
from cdmtehr import CDMTSynthesizer
from cdmtehr.completion import api
from cdmtehr.exceptions import (
    CDMTError,
    InvalidDataError,
    InvalidDataTypeError,
    InvalidParameterError,
    ModelFileError,
)


def _set(col, values):
    """A mutation that replaces one column."""

    def mutate(df):
        df[col] = values
        return df

    return mutate


def _same(a, b):
    """Deep equality of the caller's argument before and after a call (frames and others)."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert a.attrs == b.attrs
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        missing = pd.isna(a)
        np.testing.assert_array_equal(missing, pd.isna(b))
        assert (a[~missing] == b[~missing]).all()
    else:
        assert a == b


@pytest.fixture
def no_training(monkeypatch):
    """Make any call of the training loop fail loudly: every error must come before it."""

    def train(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(cdmtehr._fitting, "fit_diffusion", train)


# -- fit: the data --------------------------------------------------------------------------------
def case(mutate, message, roles=None, params=None):
    """A bad frame: mutation of the good one, regex naming the column, role and param changes."""
    return mutate, roles or {}, params or {}, message


def _few_levels_but_condition(df):
    """Every categorical within max_levels=2 except the condition (3 classes)."""
    df["Vent"] = pd.Categorical(["0", "1", "0", "0", "0", "1"])
    df["Sex"] = ["F", "F", "F", "M", "M", "M"]
    df["died"] = ["a", "a", "a", "b", "b", "c"]
    return df


BAD_FRAMES = {
    # Not a frame at all.
    "list of records": case(lambda df: df.to_dict("records"), "pandas DataFrame.*got list"),
    "numpy array": case(lambda df: df.to_numpy(), "pandas DataFrame.*got ndarray"),
    "dict of columns": case(lambda df: df.to_dict("list"), "pandas DataFrame.*got dict"),
    "a Series": case(lambda df: df["HR"], "pandas DataFrame.*got Series"),
    "None": case(lambda df: None, "pandas DataFrame.*got NoneType"),
    "MultiIndex columns": case(
        lambda df: df.set_axis(pd.MultiIndex.from_product([df.columns, ["x"]]), axis=1),
        "MultiIndex columns.*flatten",
    ),
    # Empty.
    "no rows": case(lambda df: df.iloc[:0], "no rows; at least one patient"),
    "no columns": case(lambda df: pd.DataFrame(index=df.index), "'pid' \\(id_col\\) is not in"),
    # Missing columns, one per role.
    "missing id column": case(lambda df: df.drop(columns="pid"), "'pid' \\(id_col\\) is not in"),
    "missing time column": case(
        lambda df: df.drop(columns="hour"), "'hour' \\(time_col\\) is not in"
    ),
    "missing numeric column": case(
        lambda df: df.drop(columns="HR"), "'HR' \\(num_cols\\) is not in"
    ),
    "missing categorical column": case(
        lambda df: df.drop(columns="Vent"), "'Vent' \\(cat_cols\\) is not in"
    ),
    "missing static column": case(
        lambda df: df.drop(columns="Age"), "'Age' \\(static_cols\\) is not in"
    ),
    "missing condition column": case(
        lambda df: df.drop(columns="died"), "'died' \\(condition_col\\) is not in"
    ),
    "typo suggests the close name": case(
        lambda df: df.rename(columns={"Temp": "Tmp"}),
        "'Temp' \\(num_cols\\) is not in the data; did you mean 'Tmp'",
    ),
    "id is the index": case(
        lambda df: df.set_index("pid"),
        "'pid' \\(id_col\\) is not in the data; it is a level of the index.*reset_index",
    ),
    "duplicate column names": case(
        lambda df: pd.concat([df, df[["HR"]]], axis=1), "Column 'HR' appears 2 times in the data"
    ),
    # A column in two roles (static and numeric, or static and categorical, is allowed).
    "numeric column also categorical": case(
        lambda df: df,
        "Column 'HR' is given several roles \\(num_cols, cat_cols\\)",
        roles={"cat_cols": ["Vent", "HR"]},
    ),
    "varying numeric column also static": case(
        lambda df: df,
        "Column 'HR' \\(static_cols\\) is not constant within patients",
        roles={"static_cols": ["Age", "Sex", "HR"]},
    ),
    "id column also numeric": case(
        lambda df: df,
        "Column 'pid' is given several roles \\(id_col, num_cols\\)",
        roles={"num_cols": ["HR", "Temp", "pid"]},
    ),
    "time column is the id column": case(
        lambda df: df,
        "Column 'pid' is given several roles \\(id_col, time_col\\)",
        roles={"time_col": "pid"},
    ),
    "condition column also static": case(
        lambda df: df,
        "Column 'died' is given several roles \\(static_cols, condition_col\\)",
        roles={"static_cols": ["Age", "Sex", "died"]},
    ),
    "column listed twice in one role": case(
        lambda df: df,
        "Column 'HR' is listed 2 times in num_cols",
        roles={"num_cols": ["HR", "Temp", "HR"]},
    ),
    # Numeric columns that hold no real numbers.
    "text in a numeric column": case(
        _set("HR", ["80", "n/a", "85", "?", "112", None]),
        "Column 'HR' \\(num_cols\\) has non-numeric values, e.g. \\['n/a', '\\?'\\] in "
        "patients 101, 102",
    ),
    "dicts in a numeric column": case(
        _set("HR", pd.Series([{"v": 1}] * 6, dtype=object)),
        "Column 'HR' \\(num_cols\\) has non-numeric values",
    ),
    "complex numbers in a numeric column": case(
        _set("HR", np.arange(6) + 1j),
        "Column 'HR' \\(num_cols\\) has dtype complex128, which is not numeric",
    ),
    "periods in a numeric column": case(
        _set("HR", pd.period_range("2020-01-01", periods=6, freq="D")),
        "Column 'HR' \\(num_cols\\) has dtype period\\[D\\], which is not numeric",
    ),
    "categories in a numeric column": case(
        _set("HR", pd.Categorical(["a", "b", "a", "b", "a", "b"])),
        "Column 'HR' \\(num_cols\\) has dtype category, which is not numeric",
    ),
    "datetimes in a numeric column": case(
        _set("Temp", pd.date_range("2020-01-01", periods=6)),
        "Column 'Temp' \\(num_cols\\) has dtype datetime64.*not numeric",
    ),
    # NaN or inf where not allowed.
    "inf in a numeric column": case(
        _set("Temp", [37.0, np.inf, 37.1, 38.1, np.nan, 36.5]),
        "Column 'Temp' \\(num_cols\\) has 1 infinite values in patients 101; use NaN",
    ),
    "-inf in a static numeric column": case(
        _set("Age", [54.0, 54.0, 54.0, -np.inf, -np.inf, 33.0]),
        "Column 'Age' \\(static_cols\\) has 2 infinite values",
    ),
    "NaN in the id column": case(
        _set("pid", [101, 101, np.nan, 102, 102, 103]),
        "Column 'pid' \\(id_col\\) has 1 missing patient ids",
    ),
    "NaN in the time column": case(
        _set("hour", [0.0, 1.0, np.nan, 0.0, 1.0, 0.0]),
        "Column 'hour' \\(time_col\\) has 1 missing times in patients 101",
    ),
    "NaT in the time column": case(
        _set("hour", pd.to_datetime(
            ["2020-01-01", None, "2020-01-02", "2020-01-01", "2020-01-02", "2020-01-01"]
        )),
        "Column 'hour' \\(time_col\\) has 1 missing times",
    ),
    "inf in the time column": case(
        _set("hour", [0.0, 1.0, np.inf, 0.0, 1.0, 0.0]),
        "Column 'hour' \\(time_col\\) has 1 infinite times in patients 101",
    ),
    "times too wide to subtract": case(
        _set("hour", [-1e308, 0.0, 1e308, 0.0, 1.0, 0.0]),
        "Column 'hour' \\(time_col\\) spans .* too wide",
    ),
    "NaN in the condition column": case(
        _set("died", ["0", "0", "0", None, None, "1"]),
        "Column 'died' \\(condition_col\\) has missing values in patients 102",
    ),
    "numeric column never observed": case(
        _set("Temp", np.nan), "Column 'Temp' \\(num_cols\\) is never observed"
    ),
    "static numeric column never observed": case(
        _set("Age", np.nan), "Column 'Age' \\(static_cols\\) is never observed"
    ),
    # Duplicate rows.
    "duplicate (id, time) rows": case(
        _set("hour", np.array([0, 1, 1, 0, 1, 0], dtype="int16")),
        "Columns 'pid' and 'hour' have 1 duplicate .* patient 101 at time 1",
    ),
    # Unsortable or mixed times.
    "text times": case(
        _set("hour", ["a", "b", "c", "a", "b", "a"]),
        "Column 'hour' \\(time_col\\) must hold numbers or datetimes.*pd.to_numeric",
    ),
    "mixed int and str times": case(
        _set("hour", pd.Series([0, 1, "2", 0, 1, 0], dtype=object)),
        "Column 'hour' \\(time_col\\) must hold numbers or datetimes.*int, str",
    ),
    "mixed tz-aware and naive times": case(
        _set("hour", pd.Series(
            [pd.Timestamp("2020-01-01", tz="UTC"), pd.Timestamp("2020-01-02")] * 3, dtype=object
        )),
        "Column 'hour' \\(time_col\\) must hold numbers or datetimes.*Timestamp",
    ),
    "boolean times": case(
        _set("hour", [False, True, True, False, True, False]),
        "Column 'hour' \\(time_col\\) must hold numbers or datetimes",
    ),
    "categorical times": case(
        _set("hour", pd.Categorical([0, 1, 2, 0, 1, 0])),
        "Column 'hour' \\(time_col\\) must hold numbers or datetimes.*category",
    ),
    # Per-patient columns that vary within a patient.
    "static column varies within a patient": case(
        _set("Age", [54.0, 55.0, 54.0, 71.0, 71.0, 33.0]),
        "Column 'Age' \\(static_cols\\) is not constant within patients .* patient 101 has "
        "\\[54.0, 55.0\\]",
    ),
    "static category half missing": case(
        _set("Sex", ["F", "F", "F", "M", None, None]),
        "Column 'Sex' \\(static_cols\\) is not constant .* patient 102",
    ),
    "condition varies within a patient": case(
        _set("died", ["0", "1", "0", "1", "1", "0"]),
        "Column 'died' \\(condition_col\\) is not constant within patients",
    ),
    # Values that cannot be keys or levels.
    "lists as patient ids": case(
        _set("pid", pd.Series([[1], [1], [1], [2], [2], [3]], dtype=object)),
        "Column 'pid' \\(id_col\\) has 6 values of unhashable type list",
    ),
    "a list among the times": case(  # found by fuzzing: duplicate-row check crashed on it
        _set("hour", pd.Series([0, 1, [2], 0, 1, 0], dtype=object)),
        "Column 'hour' \\(time_col\\) must hold numbers or datetimes",
    ),
    "dicts in a categorical column": case(
        _set("Vent", pd.Series([{"a": 1}] * 6, dtype=object)),
        "Column 'Vent' \\(cat_cols\\) has 6 values of unhashable type dict.*astype\\(str\\)",
    ),
    # Too many levels.
    "categorical column over max_levels": case(
        _set("Vent", [f"mode {i}" for i in range(6)]),
        "Column 'Vent' \\(cat_cols\\) has 6 levels, more than max_levels=5.*raise max_levels",
        params={"max_levels": 5},
    ),
    "static column over max_levels": case(
        _set("Sex", ["F", "F", "F", "M", "M", "X"]),
        "Column 'Sex' \\(static_cols\\) has 3 levels, more than max_levels=2",
        params={"max_levels": 2},
    ),
    "condition column over max_levels": case(
        _few_levels_but_condition,
        "Column 'died' \\(condition_col\\) has 3 levels, more than max_levels=2",
        params={"max_levels": 2},
    ),
}


@pytest.mark.parametrize("mutate, roles, params, message", BAD_FRAMES.values(),
                         ids=BAD_FRAMES.keys())
@pytest.mark.filterwarnings("ignore::cdmtehr.exceptions.DataWarning")  # renamed or unused columns
def test_fit_rejects_bad_frame_before_training(no_training, mutate, roles, params, message):
    data = mutate(good_frame())
    before = copy.deepcopy(data)

    with pytest.raises((InvalidDataError, InvalidDataTypeError, InvalidParameterError)) as error:
        CDMTSynthesizer(**{**TINY, **params}).fit(data, **{**ROLES, **roles})

    assert re.search(message, str(error.value), flags=re.DOTALL), str(error.value)
    assert isinstance(error.value, (ValueError, TypeError))
    _same(data, before)


def test_identifier_like_category_is_refused(no_training):
    # 60 patients, each with its own "name": the model would only copy real names.
    df = pd.DataFrame(
        {
            "pid": np.repeat(np.arange(60), 2),
            "hour": np.tile([0, 1], 60),
            "HR": np.arange(120, dtype=float),
            "name": np.repeat([f"patient name {i}" for i in range(60)], 2),
        }
    )
    before = df.copy(deep=True)

    with pytest.raises(InvalidDataError, match="Column 'name' \\(static_cols\\) has 60 levels "
                       "for 60 patients.*identifier.*drop it"):
        CDMTSynthesizer(**TINY).fit(df, "pid", "hour", static_cols=["name"])

    _same(df, before)


def test_good_frame_reaches_training(no_training):
    # The guard works: a good frame passes validation and stops only at the training loop.
    with pytest.raises(AssertionError, match="training started"):
        CDMTSynthesizer(**TINY).fit(good_frame(), **ROLES)


# -- fit: the arguments ---------------------------------------------------------------------------
BAD_FIT_ARGUMENTS = {
    "id_col missing": ({"id_col": None}, InvalidParameterError, "'id_col' argument is required"),
    "id_col a list": ({"id_col": ["pid"]}, InvalidParameterError, "'id_col' argument must be one"),
    "num_cols a set": (
        {"num_cols": {"HR", "Temp"}},
        InvalidParameterError,
        "'num_cols' argument must be a column name or a list.*set",
    ),
    "static_cols a dict": (
        {"static_cols": {"Age": 1}},
        InvalidParameterError,
        "'static_cols' argument must be a column name or a list.*dict",
    ),
}


@pytest.mark.parametrize("changes, error, message", BAD_FIT_ARGUMENTS.values(),
                         ids=BAD_FIT_ARGUMENTS.keys())
def test_fit_rejects_bad_role_argument(no_training, changes, error, message):
    df = good_frame()
    before = df.copy(deep=True)

    with pytest.raises(error, match=message):
        CDMTSynthesizer(**TINY).fit(df, **{**ROLES, **changes})

    _same(df, before)


BAD_HYPERPARAMETERS = {
    "epochs 0": ({"epochs": 0}, "'epochs' parameter .* must be None or an int in the range"),
    "epochs 1.5": ({"epochs": 1.5}, "'epochs' parameter .* Got 1.5 instead"),
    "epochs -3": ({"epochs": -3}, "'epochs' parameter"),
    "batch_size 0": ({"batch_size": 0}, "'batch_size' parameter .* Got 0 instead"),
    "batch_size '8'": ({"batch_size": "8"}, "'batch_size' parameter .* Got '8' instead"),
    "batch_size 2.0": ({"batch_size": 2.0}, "'batch_size' parameter"),
    "hidden_size True": ({"hidden_size": True}, "'hidden_size' parameter"),
    "max_levels 1": ({"max_levels": 1}, "'max_levels' parameter .* range \\[2, inf\\)"),
    "max_time nan": ({"max_time": float("nan")}, "'max_time' parameter"),
    "learning_rate 0": ({"learning_rate": 0.0}, "'learning_rate' parameter"),
    "guidance_dropout 1.5": ({"guidance_dropout": 1.5}, "'guidance_dropout' parameter"),
    "schedule typo": ({"schedule": "edn"}, "'schedule' parameter .* Did you mean 'edm'"),
    "device typo": ({"device": "gpu"}, "'device' parameter .* Got 'gpu'"),
    "random_state -1": ({"random_state": -1}, "'random_state' parameter .* Got -1"),
    "no budget": ({"epochs": None, "max_time": None}, "training budget: set 'epochs', 'max_time'"),
}


@pytest.mark.parametrize("params, message", BAD_HYPERPARAMETERS.values(),
                         ids=BAD_HYPERPARAMETERS.keys())
def test_fit_rejects_bad_hyperparameter(no_training, params, message):
    df = good_frame()
    before = df.copy(deep=True)

    with pytest.raises(InvalidParameterError, match=message):
        CDMTSynthesizer(**{**TINY, **params}).fit(df, **ROLES)

    _same(df, before)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_fit_rejects_a_device_the_machine_lacks(no_training):
    with pytest.raises(InvalidParameterError, match="'device' parameter .* 'cuda', which this "
                       "machine does not have.*Use 'cpu' or 'auto'"):
        CDMTSynthesizer(**{**TINY, "device": "cuda"}).fit(good_frame(), **ROLES)


def test_failed_refit_keeps_the_fitted_model(fitted):
    # A refit on bad data fails before it forgets: the model still samples as before.
    model = copy.deepcopy(fitted)
    expected = model.sample(3, random_state=0, steps=2)

    with pytest.raises(InvalidDataError, match="'HR'"):
        model.fit(good_frame().drop(columns="HR"), **ROLES)

    pd.testing.assert_frame_equal(model.sample(3, random_state=0, steps=2), expected)


# -- sample -------------------------------------------------------------------------------------
@pytest.fixture
def fitted(tiny_model):
    """The shared tiny model, whose condition classes are the strings '0' and '1'."""
    return tiny_model


@pytest.fixture(scope="module")
def fitted_without_condition():
    df = good_frame().drop(columns="died")
    return CDMTSynthesizer(**TINY).fit(df, **{**ROLES, "condition_col": None})


BAD_SAMPLE_ARGUMENTS = {
    "n 0": ({"n": 0}, "'n' parameter of CDMTSynthesizer.sample must be an int .* Got 0"),
    "n -2": ({"n": -2}, "'n' parameter"),
    "n 2.5": ({"n": 2.5}, "'n' parameter .* Got 2.5"),
    "n '3'": ({"n": "3"}, "'n' parameter .* Got '3'"),
    "n True": ({"n": True}, "'n' parameter .* Got True"),
    "n None": ({"n": None}, "'n' parameter .* Got None"),
    "steps 0": ({"n": 2, "steps": 0}, "'steps' parameter .* Got 0"),
    "steps 1.5": ({"n": 2, "steps": 1.5}, "'steps' parameter .* Got 1.5"),
    "sampler typo": ({"n": 2, "sampler": "eulr"}, "'sampler' parameter .* Did you mean 'euler'"),
    "sampler upper case": ({"n": 2, "sampler": "HEUN"}, "'sampler' .* Did you mean 'heun'"),
    "sampler unknown": ({"n": 2, "sampler": "ddim"}, "'sampler' parameter .* among"),
    "guidance_scale negative": ({"n": 2, "guidance_scale": -1.0}, "'guidance_scale' parameter"),
    "guidance_scale nan": ({"n": 2, "guidance_scale": math.nan}, "'guidance_scale' parameter"),
    "random_state text": ({"n": 2, "random_state": "seed"}, "'random_state' parameter"),
    "class never seen": (
        {"n": 3, "condition": "2"},
        "'condition' parameter .* class '2' \\(str\\), which was never seen in fit; known "
        "classes: \\['0', '1'\\]",
    ),
    "class as int for a str class": (
        {"n": 3, "condition": 1},
        "'condition' parameter .* class 1 \\(int\\).* Did you mean '1'\\?",
    ),
    "counts not summing to n": (
        {"n": 4, "condition": {"0": 1, "1": 1}},
        "'condition' parameter .* counts must be non-negative ints summing to n=4.*sum 2",
    ),
    "negative count": ({"n": 3, "condition": {"0": -1, "1": 4}}, "non-negative ints"),
    "float count": ({"n": 3, "condition": {"0": 1.0, "1": 2}}, "non-negative ints"),
    "text count": ({"n": 3, "condition": {"0": "x", "1": 2}}, "non-negative ints"),
    "unknown class in counts": ({"n": 3, "condition": {"0": 3, "7": 0}}, "class '7'"),
    "one class per patient, too few": (
        {"n": 3, "condition": ["0", "1"]},
        "'condition' parameter .* 2 entries; it must have one per patient \\(n=3\\)",
    ),
    "a set of classes": ({"n": 2, "condition": {"0", "1"}}, "'condition' parameter .* got a set"),
    "nested classes": ({"n": 2, "condition": [["0"], ["1"]]}, "'condition' parameter .* 1-D"),
    "unhashable class": ({"n": 1, "condition": [{"0": 1}]}, "class \\{'0': 1\\} \\(dict\\)"),
}


@pytest.mark.parametrize("kwargs, message", BAD_SAMPLE_ARGUMENTS.values(),
                         ids=BAD_SAMPLE_ARGUMENTS.keys())
def test_sample_rejects_bad_argument_before_generating(fitted, monkeypatch, kwargs, message):
    def generate(*args, **kwargs):
        raise AssertionError("generation started")

    monkeypatch.setattr(api, "generate_stays", generate)
    before = copy.deepcopy(kwargs)

    with pytest.raises(InvalidParameterError, match=message):
        fitted.sample(**kwargs)

    assert kwargs == before


def test_sample_rejects_condition_without_condition_column(fitted_without_condition):
    with pytest.raises(InvalidParameterError, match="'condition' parameter .* needs a model "
                       "fitted with condition_col"):
        fitted_without_condition.sample(2, condition="1")


# -- load ----------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _parts(path):
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info.filename)) for info in archive.infolist()]


def _replace(parts, name, data):
    return [(n, data if n == name else d) for n, d in parts]


def _edit_manifest(parts, edit):
    manifest = json.loads(dict(parts)["manifest.json"])
    edit(manifest)
    return _replace(parts, "manifest.json", json.dumps(manifest).encode())


def _npz_with_pickle(marker):
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.array([_Payload(marker)], dtype=object))
    return buffer.getvalue()


def _nan_weights(parts):
    weights = torch.load(io.BytesIO(dict(parts)["weights.pt"]), weights_only=True)
    first = next(iter(weights["model"]))
    weights["model"][first] = torch.full_like(weights["model"][first], float("nan"))
    buffer = io.BytesIO()
    torch.save(weights, buffer)
    return buffer.getvalue()


# name: (builds the bad file's members from the good ones and a marker path, message regex)
BAD_FILES = {
    "a CSV file": (
        lambda parts, m: b"pid,hour\n1,0\n", "not a cdmtehr model file.*CDMTSynthesizer.save"
    ),
    "a pickle file": (
        lambda parts, m: pickle.dumps(_Payload(m)),
        "not a cdmtehr model file.*pickle.load or joblib.load",
    ),
    "an empty file": (lambda parts, m: b"", "not a cdmtehr model file"),
    "truncated to half": (lambda parts, m: "half", "truncated or corrupt"),
    "a zip without our members": (lambda parts, m: [("notes.txt", b"hi")], "lacks \\["),
    "a member missing": (lambda parts, m: parts[1:], "lacks \\['manifest.json'\\]"),
    "an extra member": (
        lambda parts, m: [*parts, ("payload.pkl", pickle.dumps(_Payload(m)))],
        "unexpected or repeated members \\['payload.pkl'\\]",
    ),
    "a repeated member": (
        lambda parts, m: [*parts, ("manifest.json", b"{}")],
        "unexpected or repeated members \\['manifest.json'\\]",
    ),
    "a newer format version": (
        lambda parts, m: _edit_manifest(parts, lambda d: d.update(format_version=99)),
        "format version 99, newer than .* Upgrade cdmtehr",
    ),
    "format version 0": (
        lambda parts, m: _edit_manifest(parts, lambda d: d.update(format_version=0)),
        "invalid model format version 0",
    ),
    "format version as text": (
        lambda parts, m: _edit_manifest(parts, lambda d: d.update(format_version="1")),
        "invalid model format version '1'",
    ),
    "a wrong format tag": (
        lambda parts, m: _edit_manifest(parts, lambda d: d.update(format="other")),
        "wrong format tag",
    ),
    "manifest not JSON": (
        lambda parts, m: _replace(parts, "manifest.json", b"\x80\x04 not json"),
        "truncated or corrupt",
    ),
    "manifest names os.system": (
        lambda parts, m: _edit_manifest(
            parts, lambda d: d.update(fitted={"__type__": "os.system", "state": {}})
        ),
        "names type 'os.system', which cdmtehr never stores",
    ),
    "manifest names cdmtehr.__main__": (
        lambda parts, m: _edit_manifest(
            parts, lambda d: d.update(fitted={"__type__": "cdmtehr.__main__.X", "state": {}})
        ),
        "names type 'cdmtehr.__main__.X', which cdmtehr never stores",
    ),
    "manifest names the synthesizer": (
        lambda parts, m: _edit_manifest(
            parts,
            lambda d: d.update(fitted={"__type__": "CDMTSynthesizer", "state": {}}),
        ),
        "names type 'CDMTSynthesizer'",
    ),
    "a version-5 manifest names os.system by its path": (
        lambda parts, m: _edit_manifest(
            parts,
            lambda d: d.update(
                format_version=5, fitted={"__object__": "os.system", "state": {}}
            ),
        ),
        "names type 'os.system', which cdmtehr never stores",
    ),
    "a current manifest names a class by its path": (
        lambda parts, m: _edit_manifest(
            parts,
            lambda d: d.update(
                fitted={"__object__": "cdmtehr.preprocessing.sequences.TimeGrid", "state": {}}
            ),
        ),
        "Unknown entry in model file",
    ),
    "manifest sets a dunder attribute": (
        lambda parts, m: _edit_manifest(
            parts,
            lambda d: d.update(fitted={
                "__type__": "TimeGrid",
                "state": {"__items__": [["__class__", 1]]},
            }),
        ),
        "malformed state for type 'TimeGrid'",
    ),
    "manifest lacks fitted attributes": (
        lambda parts, m: _edit_manifest(parts, lambda d: d.update(fitted={"__items__": []})),
        "lacks the fitted \\[",
    ),
    "unknown hyper-parameter in manifest": (
        lambda parts, m: _edit_manifest(parts, lambda d: d["params"].update(evil=1)),
        "is damaged: TypeError.*'evil'",
    ),
    "a pickle planted in weights.pt": (
        lambda parts, m: _replace(parts, "weights.pt", pickle.dumps(_Payload(m))),
        "unreadable arrays or weights",
    ),
    "a pickle planted in arrays.npz": (
        lambda parts, m: _replace(parts, "arrays.npz", _npz_with_pickle(m)),
        "unreadable arrays or weights.*allow_pickle=False",
    ),
    "truncated weights": (
        lambda parts, m: _replace(parts, "weights.pt", dict(parts)["weights.pt"][:100]),
        "unreadable arrays or weights",
    ),
    "NaN weights": (
        lambda parts, m: _replace(parts, "weights.pt", _nan_weights(parts)),
        "NaN or infinite weights",
    ),
}


@pytest.fixture
def model_file(tiny_model_file):
    return tiny_model_file


@pytest.mark.parametrize("damage, message", BAD_FILES.values(), ids=BAD_FILES.keys())
@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # zipfile, "a repeated member"
@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # torch, planted pickle
def test_load_rejects_bad_file_without_running_it(model_file, tmp_path, damage, message):
    marker = tmp_path / "pwned"
    path = tmp_path / "bad.cdmt"
    content = damage(_parts(model_file), marker)
    if content == "half":
        data = model_file.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in content:
                archive.writestr(name, data)

    with pytest.raises(ModelFileError, match=message) as error:
        CDMTSynthesizer.load(path)

    assert isinstance(error.value, (ValueError, CDMTError))
    assert not marker.exists()


BAD_LOAD_ARGUMENTS = {
    "path is an int": ({"path": 5}, InvalidDataTypeError, "'path' argument .* got int"),
    "path is None": ({"path": None}, InvalidDataTypeError, "'path' argument .* got NoneType"),
    "device typo": ({"device": "gpu"}, InvalidParameterError, "'device' parameter .* 'gpu'"),
}


@pytest.mark.parametrize("kwargs, error, message", BAD_LOAD_ARGUMENTS.values(),
                         ids=BAD_LOAD_ARGUMENTS.keys())
def test_load_rejects_bad_argument(model_file, kwargs, error, message):
    with pytest.raises(error, match=message):
        CDMTSynthesizer.load(**{"path": model_file, **kwargs})


def test_load_missing_file_is_a_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file at .*nothing.cdmt"):
        CDMTSynthesizer.load(tmp_path / "nothing.cdmt")


def test_catalogue_is_large_enough():
    n_cases = (
        len(BAD_FRAMES) + len(BAD_FIT_ARGUMENTS) + len(BAD_HYPERPARAMETERS)
        + len(BAD_SAMPLE_ARGUMENTS) + len(BAD_FILES) + len(BAD_LOAD_ARGUMENTS)
    )
    assert n_cases >= 30
