"""The errors and warnings of the completion methods: raised before any sampling, named."""

import re

import numpy as np
import pandas as pd
import pytest

from cdmtehr import CDMTSynthesizer
from cdmtehr.completion import api
from cdmtehr.exceptions import (
    DataWarning,
    InvalidDataError,
    InvalidParameterError,
    NotFittedError,
)


@pytest.fixture(scope="module")
def frame(tiny_conditional):
    return tiny_conditional[0]


@pytest.fixture
def no_sampling(tiny_model, monkeypatch):
    """Sampling fails the test: every error must come before any work."""

    def refuse(*args, **kwargs):
        raise AssertionError("sampling started before the error")

    monkeypatch.setattr(api, "generate_stays", refuse)
    return tiny_model


def test_prefix_longer_than_the_grid(no_sampling, frame):
    longer = pd.concat([frame, frame[frame["t"] == 2].assign(t=3)])
    with pytest.raises(InvalidParameterError, match="has 4 rows, more than the 3"):
        no_sampling.forecast(longer)
    with pytest.raises(InvalidParameterError, match=r"minus the horizon of 2.*or the horizon"):
        no_sampling.forecast(frame[frame["t"] < 2], horizon=2)


def test_prefix_off_the_grid(no_sampling, frame):
    gap = frame[frame["t"] != 1]
    with pytest.raises(InvalidDataError, match="'t'.*not consecutive steps"):
        no_sampling.forecast(gap)


@pytest.mark.parametrize("method", ["forecast", "impute"])
def test_unknown_and_missing_columns(no_sampling, frame, method):
    call = getattr(no_sampling, method)
    with pytest.raises(InvalidParameterError, match=r"not fitted on: 'extra'"):
        call(frame.assign(extra=1.0))
    with pytest.raises(InvalidParameterError, match=r"lacks the column\(s\) \['t'\]"):
        call(frame.drop(columns="t"))


def test_condition_contradicting_the_frame(no_sampling, frame):
    with pytest.raises(InvalidParameterError, match="contradicts column 'outcome'"):
        no_sampling.forecast(frame[frame["t"] == 0], condition="1")
    with pytest.raises(InvalidParameterError, match="contradicts column 'outcome' of 'given'"):
        no_sampling.sample(2, given={"outcome": "0"}, condition="1")


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.zeros((2, 2), bool), "shape"),
        ("frame-index", "the frame's index"),
        ("ints", "True/False only"),
        ("id", r"marks cells of \['pid'\]"),
        ("outcome", "condition are never drawn"),
        ("list", "must be a boolean DataFrame"),
    ],
)
def test_malformed_masks(no_sampling, frame, mask, message):
    if isinstance(mask, str):
        mask = {
            "frame-index": pd.DataFrame({"x": True}, index=frame.index + 1),
            "ints": pd.DataFrame({"x": 1}, index=frame.index),
            "id": pd.DataFrame({"pid": True}, index=frame.index),
            "outcome": pd.DataFrame({"outcome": True}, index=frame.index),
            "list": [True],
        }[mask]
    with pytest.raises(InvalidParameterError, match=message):
        no_sampling.impute(frame, mask=mask)


@pytest.mark.parametrize(
    "given, message",
    [
        (pd.DataFrame({"sex": ["F"]}), "has 1 rows; it needs one per patient"),
        ({"x": 1.0}, r"\['x'\] vary along the stay: use forecast or impute"),
        ({"height": 1.0}, r"not per-patient columns of the model: \['height'\]"),
        ([1, 2], "must be a DataFrame"),
    ],
)
def test_malformed_given(no_sampling, given, message):
    with pytest.raises(InvalidParameterError, match=message):
        no_sampling.sample(2, given=given)


def test_given_level_never_seen(no_sampling):
    with pytest.raises(InvalidDataError, match=re.escape("Column 'sex' has levels never seen")):
        no_sampling.sample(2, given={"sex": "X"})


@pytest.mark.parametrize("arguments, name", [({"n_draws": 0}, "n_draws"),
                                              ({"nan": "missing"}, "nan"),
                                              ({"horizon": 0}, "horizon")])
def test_bad_arguments(no_sampling, frame, arguments, name):
    method = no_sampling.forecast if name == "horizon" else no_sampling.impute
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        method(frame, **arguments)


def test_values_outside_the_fitted_range_warn_by_name(tiny_model, frame):
    prefix = frame[frame["t"] == 0].assign(x=100.0)
    with pytest.warns(DataWarning, match=r"outside the range seen in fit.*'x' \(6 values"):
        out = tiny_model.forecast(prefix, steps=2, random_state=0)
    assert (out.loc[out["t"] == 0, "x"] == 100.0).all()  # and they come back as given


def test_not_fitted():
    with pytest.raises(NotFittedError, match="'forecast'"):
        CDMTSynthesizer().forecast(pd.DataFrame({"a": [1]}))


def test_a_misspelt_column_gets_a_suggestion(no_sampling, frame):
    with pytest.raises(InvalidParameterError, match=r"'sexx' \(did you mean 'sex'\?\)"):
        no_sampling.impute(frame.rename(columns={"sex": "sexx"}))
