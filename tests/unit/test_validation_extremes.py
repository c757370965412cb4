"""Times whose span does not fit in int64, and raw errors of other libraries turned into ours."""

import numpy as np
import pandas as pd
import pytest
from helpers.frames import ROLES, TINY, cohort

from cdmtehr import CDMTSynthesizer
from cdmtehr.exceptions import InvalidDataError


@pytest.mark.parametrize(
    "times, message",
    [
        (pd.to_datetime(["1700-01-01", "2261-06-01"]).astype("datetime64[ns]"),
         r"wider than the int64 differences.*datetime64\[s\]"),
        (np.array([0, 2**63 + 10], dtype="uint64"), "wider than the int64 differences"),
        (np.array([-(2**62) - 5, 2**62 + 5], dtype="int64"), "wider than the int64"),
    ],
)
def test_integer_and_datetime_spans_wider_than_int64_are_refused(times, message):
    df = cohort(n_patients=2, length=2).iloc[[0, 2]].reset_index(drop=True)
    df["t"] = times
    with pytest.raises(InvalidDataError, match=message):
        CDMTSynthesizer(**TINY).fit(df, **ROLES)


def test_a_far_future_datetime_span_that_fits_round_trips():
    df = cohort(n_patients=4, length=3)
    df["t"] = pd.Timestamp("2261-01-01") + pd.to_timedelta(df["t"], unit="h")
    out = CDMTSynthesizer(**TINY).fit(df, **ROLES).sample(3, random_state=0)
    assert out["t"].min() >= pd.Timestamp("2261-01-01")


def test_a_numpy_generator_is_accepted_as_random_state():
    df = cohort(n_patients=4, length=3)
    synth = CDMTSynthesizer(**{**TINY, "random_state": np.random.default_rng(0)}).fit(df, **ROLES)
    first = synth.sample(3, random_state=np.random.default_rng(1))
    again = synth.sample(3, random_state=np.random.default_rng(1))
    pd.testing.assert_frame_equal(first, again)


def test_float16_ids_get_a_clear_error():
    df = cohort(n_patients=4, length=3)
    df["pid"] = df["pid"].astype("float16")
    with pytest.raises(InvalidDataError, match=r"'pid' \(id_col\) has dtype float16"):
        CDMTSynthesizer(**TINY).fit(df, **ROLES)
