"""Property tests of the public API over many frames.

1. Any valid long frame (shapes, dtypes, NaN patterns, lengths from `strategies.long_frames`)
   fits a tiny model, and the sample keeps the output contract.
2. Any corruption of a valid frame is answered by one of our errors before training, or passes
   validation; never by another exception, and never by mutating the frame.
3. No silent loss: every input column is modelled or named in the one DataWarning.
4. Any byte-level damage to a model file is answered by ModelFileError (or does not matter).
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from helpers.frames import TINY, assert_output_contract
from helpers.strategies import long_frames

import cdmtehr._fitting
from cdmtehr import CDMTSynthesizer
from cdmtehr.exceptions import CDMTError, DataWarning, ModelFileError
from cdmtehr.preprocessing import SequencePreprocessor



@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=long_frames(max_patients=6, max_length=5),
       n=st.integers(1, 7), sampler=st.sampled_from(["euler", "heun", "sde", "dpmpp_2m"]))
@pytest.mark.filterwarnings("ignore::cdmtehr.exceptions.DataWarning")
def test_fit_sample_keeps_the_output_contract(case, n, sampler):
    df, roles = case
    before = df.copy(deep=True)

    synth = CDMTSynthesizer(**TINY).fit(df, **roles)
    out = synth.sample(n, steps=2, sampler=sampler, random_state=0)

    pd.testing.assert_frame_equal(df, before)
    assert np.isfinite(synth.get_loss_values()["loss"]).all()
    assert_output_contract(out, df, roles, n)
    if roles["condition_col"] is not None:
        label = df[roles["condition_col"]].iloc[0]
        forced = synth.sample(2, condition=label, steps=1, random_state=0)
        assert (forced[roles["condition_col"]] == label).all()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=long_frames(max_patients=6, max_length=5))
@pytest.mark.filterwarnings("ignore::cdmtehr.exceptions.DataWarning")
def test_model_files_and_pickles_keep_every_kind_of_time_axis(case, tmp_path):
    df, roles = case
    synth = CDMTSynthesizer(**TINY).fit(df, **roles)
    path = tmp_path / "model.cdmt"
    synth.save(path)

    copies = [CDMTSynthesizer.load(path), pickle.loads(pickle.dumps(synth))]

    reference = synth.sample(3, steps=2, random_state=0)
    assert reference[roles["time_col"]].dtype == df[roles["time_col"]].dtype
    for copy in copies:
        assert vars(copy.preprocessor_.time_grid_) == vars(synth.preprocessor_.time_grid_)
        pd.testing.assert_frame_equal(copy.sample(3, steps=2, random_state=0), reference)


def _set_cell(df, col, row, value):
    """Put `value` in one cell, widening the column to object so that any value fits."""
    column = df[col].astype(object)
    column.iloc[row] = value
    df[col] = column
    return df


CORRUPTIONS = ["cell", "drop column", "duplicate row", "static varies", "text times",
               "empty", "role swap"]
BAD_VALUES = [np.nan, None, np.inf, -np.inf, "n/a", "", 1e308, -0.0, True, [1], {"a": 1},
              pd.NaT, pd.Timestamp("2020-01-01"), b"x", 1 + 2j]


@settings(max_examples=60, deadline=None)
@given(case=long_frames(max_patients=4, max_length=4), data=st.data())
@pytest.mark.filterwarnings("ignore::cdmtehr.exceptions.DataWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy on odd values, before our check
@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors:UserWarning")  # torch
def test_corrupted_frame_fails_only_with_our_errors(case, data):
    df, roles = case
    role_columns = [c for c in [roles["id_col"], roles["time_col"], *roles["num_cols"],
                                *roles["cat_cols"], *roles["static_cols"],
                                roles["condition_col"]] if c is not None]
    kind = data.draw(st.sampled_from(CORRUPTIONS), label="corruption")
    col = data.draw(st.sampled_from(role_columns), label="column")
    df = df.copy()
    if kind == "cell":
        row = data.draw(st.integers(0, len(df) - 1), label="row")
        df = _set_cell(df, col, row, data.draw(st.sampled_from(BAD_VALUES), label="value"))
    elif kind == "drop column":
        df = df.drop(columns=col)
    elif kind == "duplicate row":
        df = pd.concat([df, df.iloc[:1]])
    elif kind == "static varies" and roles["static_cols"] and len(df) > 1:
        df = _set_cell(df, roles["static_cols"][0], 0, "changed")
    elif kind == "text times":
        df[roles["time_col"]] = df[roles["time_col"]].astype(str)
    elif kind == "empty":
        df = df.iloc[:0]
    elif kind == "role swap":
        roles = {**roles, "num_cols": [*roles["num_cols"], col]}
    before = df.copy(deep=True)

    def train(*args, **kwargs):
        raise AssertionError("training started")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cdmtehr._fitting, "fit_diffusion", train)
        try:
            CDMTSynthesizer(**TINY).fit(df, **roles)
        except CDMTError as error:
            assert isinstance(error, (ValueError, TypeError))
        except AssertionError as error:
            assert "training started" in str(error)  # the corruption left a valid frame

    pd.testing.assert_frame_equal(df, before)


EXTRA_COLUMNS = {
    "float": lambda n: np.linspace(0.0, 1.0, n),
    "text": lambda n: np.array(["a", "b"] * n)[:n].astype(object),
    "datetime": lambda n: pd.date_range("2020-01-01", periods=n),
    "timedelta": lambda n: pd.to_timedelta(np.arange(n), unit="h"),
    "complex": lambda n: np.arange(n) + 1j,
    "interval": lambda n: pd.arrays.IntervalArray.from_breaks(np.arange(n + 1)),
}


@settings(max_examples=40, deadline=None)
@given(case=long_frames(max_patients=4, max_length=4),
       extra=st.lists(st.sampled_from(sorted(EXTRA_COLUMNS)), max_size=3, unique=True),
       infer=st.sampled_from(["none", "num_cols", "cat_cols", "both"]))
def test_every_column_is_modelled_or_named_in_one_warning(case, extra, infer):
    df, roles = case
    df = df.copy()
    for name in extra:
        df[f"extra_{name}"] = EXTRA_COLUMNS[name](len(df))
    if infer in ("num_cols", "both"):
        roles = {**roles, "num_cols": None}
    if infer in ("cat_cols", "both"):
        roles = {**roles, "cat_cols": None}

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preprocessor = SequencePreprocessor(min_patients_per_value=1).fit(df, roles)

    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    left_out = [c for c in df.columns if c not in preprocessor.columns_]
    assert len(messages) == (1 if left_out else 0)
    for col in left_out:
        assert f"'{col}'" in messages[0]


@pytest.fixture(scope="session")
def model_bytes(tiny_model_file):
    return tiny_model_file.read_bytes()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                      min_size=1, max_size=4),
       keep=st.one_of(st.none(), st.floats(0, 1)))
# Found with a random seed: a byte of the end-of-central-directory record made zipfile seek
# before the file's start and raise a bare OSError.
@example(flips=[(0.999858807856877, 1)], keep=None)
@pytest.mark.filterwarnings("ignore::UserWarning")  # zipfile and torch on odd bytes
def test_damaged_model_file_fails_only_with_model_file_error(model_bytes, tmp_path, flips,
                                                              keep):
    data = bytearray(model_bytes)
    for where, value in flips:
        data[int(where * len(data))] = value
    if keep is not None:
        data = data[: int(keep * len(data))]
    path = tmp_path / "damaged.cdmt"
    path.write_bytes(bytes(data))

    try:
        CDMTSynthesizer.load(path)  # damage to zip metadata (times, comments) may not matter
    except ModelFileError:
        pass
