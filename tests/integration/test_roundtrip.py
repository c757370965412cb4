"""Property tests of the data layer: inverse_transform(transform(df)) reproduces df."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from helpers.strategies import long_frames

from cdmtehr.disclosure import MIN_PATIENTS
from cdmtehr.exceptions import InvalidDataError
from cdmtehr.preprocessing import SequencePreprocessor


def _expected(df, roles, columns):
    """The input as the round trip returns it: rows sorted by (id, time), modelled columns."""
    return df.sort_values([roles["id_col"], roles["time_col"]]).reset_index(drop=True)[columns]


def _assert_same(actual, expected, numeric_cols, rtol):
    assert list(actual.columns) == list(expected.columns)
    assert isinstance(actual.index, pd.RangeIndex)
    assert len(actual) == len(expected)
    for col in expected.columns:
        assert actual[col].dtype == expected[col].dtype, col
        if col in numeric_cols:
            a = actual[col].to_numpy(dtype="float64", na_value=np.nan)
            b = expected[col].to_numpy(dtype="float64", na_value=np.nan)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=col)
            # Quantile interpolation tolerance: relative to the value and to the column's
            # range (values within 1e-27 of the range from an extreme merge with it).
            spread = np.nanmax(b) - np.nanmin(b) if not np.isnan(b).all() else 0.0
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12 * spread, err_msg=col)
        else:
            pd.testing.assert_series_equal(actual[col], expected[col], check_exact=True)


@given(long_frames())
def test_roundtrip_reproduces_frame(case):
    df, roles = case
    before = df.copy(deep=True)
    # Single patients' values kept, so that every value is a knot and comes back exactly.
    preprocessor = SequencePreprocessor(min_patients_per_value=1)

    cohort, ids = preprocessor.fit_transform(df, roles, return_ids=True)
    again = preprocessor.transform(df)
    out = preprocessor.inverse_transform(cohort, ids=ids)

    pd.testing.assert_frame_equal(df, before)  # never mutated
    n_patients = df[roles["id_col"]].nunique()
    assert cohort.n_patients == n_patients
    assert cohort.lengths.sum() == len(df)
    assert cohort.max_length == df.groupby(roles["id_col"]).size().max()
    assert cohort.numeric.shape[2] == len(roles["num_cols"]) + int(preprocessor.has_gap_channel_)
    np.testing.assert_array_equal(again.numeric, cohort.numeric)
    np.testing.assert_array_equal(again.categorical, cohort.categorical)

    columns = [c for c in df.columns if c in set(preprocessor.roles_.columns)]
    expected = _expected(df, roles, columns)
    numeric = set(roles["num_cols"]) | set(preprocessor.static_numeric_names_)
    if df[roles["time_col"]].dtype.kind == "f":
        numeric.add(roles["time_col"])  # irregular float times are rebuilt by a cumsum
    _assert_same(out, expected, numeric, rtol=1e-9)


@given(long_frames())
def test_inverse_with_fresh_ids(case):
    df, roles = case
    preprocessor = SequencePreprocessor(min_patients_per_value=1)
    cohort = preprocessor.fit_transform(df, roles)

    out = preprocessor.inverse_transform(cohort)

    ids = out[roles["id_col"]]
    assert ids.dtype == df[roles["id_col"]].dtype
    assert ids.nunique() == cohort.n_patients
    if ids.dtype.kind == "i":
        np.testing.assert_array_equal(ids.unique(), np.arange(cohort.n_patients))
    else:
        assert ids.str.fullmatch(r"synthetic-\d{6}").all()
    keys = out[[roles["id_col"], roles["time_col"]]]
    assert keys.equals(keys.sort_values(list(keys.columns)).reset_index(drop=True))


@pytest.mark.slow
def test_roundtrip_physionet(physionet):
    df, roles = physionet
    before = df.copy(deep=True)
    # Single patients' values kept, so that every value is a knot and comes back exactly.
    preprocessor = SequencePreprocessor(min_patients_per_value=1)

    cohort, ids = preprocessor.fit_transform(df, roles, return_ids=True)
    out = preprocessor.inverse_transform(cohort, ids=ids)

    pd.testing.assert_frame_equal(df, before)
    assert cohort.numeric.shape == (4000, 48, 36)  # hours 0..47: regular, no gap channel
    assert not preprocessor.has_gap_channel_
    np.testing.assert_array_equal(cohort.lengths, np.full(4000, 48))
    assert list(out.columns) == list(df.columns)
    assert (out.dtypes == df.dtypes).all()
    numeric = roles["num_cols"] + preprocessor.static_numeric_names_
    others = [c for c in df.columns if c not in numeric]
    pd.testing.assert_frame_equal(out[others], df[others], check_exact=True)
    for col in numeric:
        a, b = out[col].to_numpy(), df[col].to_numpy()
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=col)
        # Scores travel as float32: values off the quantile knots come back to ~1e-5.
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=col)
        observed = ~np.isnan(b)
        if np.unique(b[observed]).size <= 1000:  # then every value is a knot: exact
            np.testing.assert_array_equal(a, b, err_msg=col)


@given(long_frames(max_patients=12))
def test_roundtrip_keeps_no_value_that_few_patients_have(case):
    df, roles = case
    pid = roles["id_col"]
    per_patient = df.groupby(pid, sort=False).first()
    measured = {c: df.loc[df[c].notna(), pid].nunique() for c in roles["num_cols"]}
    preprocessor = SequencePreprocessor()
    static_numeric = [
        c for c in roles["static_cols"] if pd.api.types.is_numeric_dtype(df[c].dtype)
    ]
    measured.update({c: int(per_patient[c].notna().sum()) for c in static_numeric})
    too_few = [c for c, n in measured.items() if 0 < n < MIN_PATIENTS]
    # A categorical level (the condition's classes aside) that fewer patients have.
    kinds = SequencePreprocessor(min_patients_per_value=1).fit(df, roles)
    for col in kinds.categorical_names_:
        levels = df.loc[df[col].notna(), [col, pid]].drop_duplicates()
        if len(levels) and levels.groupby(col)[pid].size().min() < MIN_PATIENTS:
            too_few.append(col)
    for col in kinds.static_categorical_names_:
        counts = per_patient[col].value_counts()
        counts = counts[counts > 0]  # a category's unused levels are counted as 0
        if len(counts) and counts.min() < MIN_PATIENTS:
            too_few.append(col)
    if len(per_patient) < MIN_PATIENTS or too_few:
        with pytest.raises(InvalidDataError, match="min_patients_per_value") as error:
            preprocessor.fit(df, roles)
        if len(per_patient) >= MIN_PATIENTS:
            assert all(f"'{c}'" in str(error.value) for c in too_few)
        return

    cohort, ids = preprocessor.fit_transform(df, roles, return_ids=True)
    out = preprocessor.inverse_transform(cohort, ids=ids)

    expected = _expected(df, roles, list(out.columns))
    assert (out.dtypes == expected.dtypes).all()
    pd.testing.assert_series_equal(out[pid], expected[pid])
    encoders = dict(zip(preprocessor.numeric_names_, preprocessor.numeric_encoders_, strict=True))
    encoders.update(zip(preprocessor.static_numeric_names_, preprocessor.static_numeric_encoders_,
                        strict=True))
    for col, encoder in encoders.items():
        if col not in df.columns:  # the gap and start channels: each patient's own times
            continue
        values = df[col].to_numpy(dtype="float64", na_value=np.nan)
        patients = df[pid].to_numpy()
        kept = [encoder.min_, encoder.max_, *getattr(encoder, "knot_values_", [])]
        for number in kept:  # a kept value is one that enough patients share, or a mean
            holders = np.unique(patients[values == number])
            assert holders.size == 0 or holders.size >= MIN_PATIENTS, (col, number)
        decoded = out[col].to_numpy(dtype="float64", na_value=np.nan)
        np.testing.assert_array_equal(np.isnan(decoded), np.isnan(
            expected[col].to_numpy(dtype="float64", na_value=np.nan)))
