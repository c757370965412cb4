"""Long frame <-> padded arrays: order, time grid, fill rule, generated cohorts, fresh ids."""

import uuid
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import frames

from cdmtehr.exceptions import DataWarning, InvalidDataError, InvalidParameterError
from cdmtehr.preprocessing import EncodedCohort, SequencePreprocessor
from cdmtehr import _blocks
from cdmtehr.preprocessing.sequences import arrange_rows, fill_unobserved, fresh_ids


def _frame(times=(0, 1, 2, 0, 1, 0), ids=(7, 7, 7, 3, 3, 5)):
    return pd.DataFrame(
        {
            "pid": list(ids),
            "t": np.array(times, dtype="int16"),
            "hr": [np.nan, 80.0, np.nan, 90.0, np.nan, np.nan],
            "unit": pd.Categorical(["a", "b", None, "a", "a", "b"], categories=["a", "b", "c"]),
            "age": [50.0, 50.0, 50.0, np.nan, np.nan, 30.0],
            "sex": ["F", "F", "F", "M", "M", "F"],
            "died": ["no", "no", "no", "yes", "yes", "no"],
        }
    )


ROLES = {
    "id_col": "pid",
    "time_col": "t",
    "num_cols": ["hr"],
    "cat_cols": ["unit"],
    "static_cols": ["age", "sex"],
    "condition_col": "died",
}


def test_transform_layout_and_attributes():
    preprocessor = SequencePreprocessor(min_patients_per_value=1)
    cohort, ids = preprocessor.fit_transform(_frame(), ROLES, return_ids=True)

    assert list(ids) == [3, 5, 7]  # patients by sorted id
    np.testing.assert_array_equal(cohort.lengths, [2, 1, 3])
    assert cohort.numeric.shape == (3, 3, 1) and cohort.numeric.dtype == np.float32
    assert cohort.observed[:, :, 0].tolist() == [
        [True, False, False],
        [False, False, False],
        [False, True, False],
    ]
    # Patient 7: unobserved first step is back-filled, last step forward-filled.
    assert cohort.numeric[2, 0, 0] == cohort.numeric[2, 1, 0] == cohort.numeric[2, 2, 0]
    assert cohort.numeric[0, 1, 0] == cohort.numeric[0, 0, 0]  # forward fill
    assert cohort.numeric[1, 0, 0] == 0  # never observed: median score 0
    assert cohort.numeric[0, 2, 0] == 0 and not cohort.observed[0, 2, 0]  # padding
    assert cohort.categorical_levels == (3,)  # a, b, missing
    assert cohort.categorical[:, :, 0].tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 2]]
    np.testing.assert_array_equal(cohort.static_observed[:, 0], [False, True, True])
    assert cohort.static_categorical_levels == (2,)
    np.testing.assert_array_equal(cohort.condition, [1, 0, 0])
    assert cohort.n_classes == 2
    assert list(preprocessor.classes_) == ["no", "yes"]
    assert preprocessor.numeric_names_ == ["hr"]
    assert preprocessor.static_numeric_names_ == ["age"]
    assert preprocessor.static_categorical_names_ == ["sex"]
    assert preprocessor.max_length_ == 3 and preprocessor.time_grid_.regular_


def test_fill_unobserved_matches_pandas():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 7, 3)).astype(np.float32)
    lengths = rng.integers(1, 8, size=40)
    valid = np.arange(7)[None, :] < lengths[:, None]
    observed = (rng.random(values.shape) < 0.3) & valid[:, :, None]

    filled = fill_unobserved(np.where(observed, values, np.nan), observed, valid)

    for i in range(40):
        for k in range(3):
            stay = pd.Series(np.where(observed[i, :, k], values[i, :, k], np.nan)[: lengths[i]])
            expected = stay.ffill().bfill().fillna(0).to_numpy()
            np.testing.assert_array_equal(filled[i, : lengths[i], k], expected)
            assert (filled[i, lengths[i] :, k] == 0).all()


def test_fill_unobserved_in_blocks_is_the_fill_of_all_at_once(monkeypatch):
    rng = np.random.default_rng(1)
    values = rng.normal(size=(23, 6, 4)).astype(np.float32)
    valid = np.arange(6)[None, :] < rng.integers(1, 7, size=23)[:, None]
    observed = (rng.random(values.shape) < 0.4) & valid[:, :, None]
    whole = fill_unobserved(values, observed, valid)
    monkeypatch.setattr(_blocks, "BLOCK_CELLS", 5 * 6 * 4)  # blocks of 5, the last one of 3
    blocked = fill_unobserved(values, observed, valid)
    np.testing.assert_array_equal(blocked, whole)
    assert blocked.dtype == np.float32 and blocked.flags["C_CONTIGUOUS"]


def test_arrange_rows_sorts_by_patient_and_time():
    layout = arrange_rows(pd.Series(["b", "a", "b", "a"]), np.array([5.0, 2.0, 1.0, 0.0]))
    np.testing.assert_array_equal(layout.order, [3, 1, 2, 0])
    np.testing.assert_array_equal(layout.position, [0, 1, 0, 1])
    np.testing.assert_array_equal(layout.lengths, [2, 2])
    assert list(layout.ids) == ["a", "b"]


def test_irregular_integer_times_get_a_gap_channel():
    df = _frame(times=(0, 3, 4, 2, 8, 0))
    preprocessor = SequencePreprocessor(min_patients_per_value=1)
    cohort, ids = preprocessor.fit_transform(df, ROLES, return_ids=True)

    assert preprocessor.has_gap_channel_
    assert preprocessor.numeric_names_ == ["hr", "t.gap"]
    assert cohort.numeric.shape[2] == 2
    np.testing.assert_array_equal(cohort.observed[:, :, -1], cohort.length_mask())
    out = preprocessor.inverse_transform(cohort, ids=ids)
    expected = df.sort_values(["pid", "t"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(out, expected)


@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
@pytest.mark.parametrize("regular", [True, False])
def test_datetime_times_roundtrip(tz, regular):
    hours = [0, 1, 2, 0, 1, 0] if regular else [0, 1, 5, 30, 31, 2]
    df = _frame()
    df["t"] = pd.Timestamp("2024-03-09 23:00", tz=tz) + pd.to_timedelta(hours, unit="h")
    preprocessor = SequencePreprocessor(min_patients_per_value=1)

    cohort, ids = preprocessor.fit_transform(df, ROLES, return_ids=True)
    out = preprocessor.inverse_transform(cohort, ids=ids)

    assert preprocessor.has_gap_channel_ is not regular
    assert out["t"].dtype == df["t"].dtype
    pd.testing.assert_frame_equal(out, df.sort_values(["pid", "t"]).reset_index(drop=True))


def _hospital_export(n_patients=40, tz=None, seed=0):
    """Admission at a minute of its own, then hourly rows (charttime = admission + hour)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 8, n_patients)
    admissions = pd.Timestamp("2023-01-01", tz=tz) + pd.to_timedelta(
        rng.integers(0, 525_600, n_patients), unit="min")
    hours = np.concatenate([np.arange(n) for n in lengths])
    return pd.DataFrame({
        "pid": np.repeat([f"icu-{i:04d}" for i in range(n_patients)], lengths),
        "charttime": np.repeat(admissions, lengths) + pd.to_timedelta(hours, unit="h"),
        "hr": rng.normal(85, 12, hours.size).round(),
    })


@pytest.mark.parametrize("tz", [None, "America/New_York"])
def test_a_hospital_export_counts_hours_from_each_admission(tz):
    df = _hospital_export(tz=tz)
    roles = {"id_col": "pid", "time_col": "charttime", "num_cols": ["hr"], "static_cols": []}

    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # no "sentinel" for admission dates
        preprocessor = SequencePreprocessor().fit(df, roles)
    cohort = preprocessor.transform(df)
    out = preprocessor.inverse_transform(_generated(preprocessor, n_patients=300, seed=1))

    grid = preprocessor.time_grid_
    assert grid.starts_vary_ and grid.regular_ and not preprocessor.has_gap_channel_
    assert preprocessor.has_start_channel_
    assert preprocessor.static_numeric_names_ == ["charttime.start"]
    tick = pd.Timedelta(1, unit=df["charttime"].dt.unit)  # what the numbers count
    assert grid.unit_ == pd.Timedelta("1h") // tick and grid.step_ == 1
    assert grid.start_unit_ % (pd.Timedelta("1min") // tick) == 0
    assert cohort.numeric.shape[2] == 1 and cohort.static_numeric.shape[1] == 1
    assert out["charttime"].dtype == df["charttime"].dtype
    # Generated stays start on the minutes of the training range and go on hour by hour.
    first = out.groupby("pid")["charttime"].transform("first")
    elapsed = (out["charttime"] - first) / pd.Timedelta("1h")
    position = out.groupby("pid").cumcount()
    np.testing.assert_array_equal(elapsed, position)
    starts = out.groupby("pid")["charttime"].first()
    assert (starts.dt.second == 0).all() and starts.nunique() > 100
    real = df.groupby("pid")["charttime"].first()
    assert real.min() <= starts.min() and starts.max() <= real.max()
    # The start channel keeps no single patient's admission time.
    start = preprocessor.static_numeric_encoders_[-1]
    kept = grid.start_numbers([start.min_, start.max_, *start.knot_values_])
    assert not np.isin(kept, real.array.asi8).any()


def test_given_starts_replace_the_start_channel():
    df = _hospital_export()
    preprocessor = SequencePreprocessor().fit(df, {"id_col": "pid", "time_col": "charttime",
                                                   "num_cols": ["hr"], "static_cols": []})
    cohort, ids = preprocessor.transform(df, return_ids=True)
    starts = df.groupby("pid")["charttime"].first().loc[ids]

    out = preprocessor.inverse_transform(cohort, ids=ids, starts=starts.to_numpy())

    expected = df.sort_values(["pid", "charttime"]).reset_index(drop=True)
    pd.testing.assert_series_equal(out["charttime"], expected["charttime"])
    with pytest.raises(InvalidParameterError, match="'starts' argument has 2 times"):
        preprocessor.inverse_transform(cohort, starts=starts.to_numpy()[:2])


def test_float_times_regular_and_irregular():
    for times, gap in [((0.0, 0.5, 1.0, 0.0, 0.5, 0.0), False), ((0.1, 0.35, 2.0, 0, 1, 0), True)]:
        df = _frame()
        df["t"] = np.array(times, dtype="float32")
        preprocessor = SequencePreprocessor(min_patients_per_value=1)
        cohort, ids = preprocessor.fit_transform(df, ROLES, return_ids=True)
        out = preprocessor.inverse_transform(cohort, ids=ids)
        assert preprocessor.has_gap_channel_ is gap
        assert out["t"].dtype == np.float32
        expected = df.sort_values(["pid", "t"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(out, expected, check_exact=False, rtol=1e-6)


def _generated(preprocessor, n_patients, seed):
    """A cohort as a model could emit it: arbitrary scores, masks, codes and lengths."""
    rng = np.random.default_rng(seed)
    max_length = preprocessor.max_length_
    n_numeric = len(preprocessor.numeric_encoders_)
    n_static = len(preprocessor.static_numeric_encoders_)
    return EncodedCohort(
        numeric=rng.normal(scale=3, size=(n_patients, max_length, n_numeric)).astype(np.float32),
        observed=rng.random((n_patients, max_length, n_numeric)) < 0.5,
        categorical=np.stack(
            [rng.integers(0, v, (n_patients, max_length))
             for v in preprocessor.categorical_levels_]
            or [np.zeros((n_patients, max_length, 0), np.int64)],
            axis=-1,
        ).reshape(n_patients, max_length, -1),
        static_numeric=rng.normal(size=(n_patients, n_static)).astype(np.float32),
        static_observed=rng.random((n_patients, n_static)) < 0.7,
        static_categorical=np.stack(
            [rng.integers(0, v, n_patients) for v in preprocessor.static_categorical_levels_]
            or [np.zeros((n_patients, 0), np.int64)],
            axis=-1,
        ).reshape(n_patients, -1),
        condition=rng.integers(0, max(len(preprocessor.classes_), 1), n_patients),
        lengths=rng.integers(1, max_length + 1, n_patients),
        categorical_levels=preprocessor.categorical_levels_,
        static_categorical_levels=preprocessor.static_categorical_levels_,
        n_classes=len(preprocessor.classes_),
    )


@pytest.mark.parametrize("times", [(0, 1, 2, 0, 1, 0), (0, 3, 4, 2, 8, 0)], ids=["reg", "irreg"])
def test_inverse_of_generated_cohort_is_a_valid_frame(times):
    df = _frame(times=times)
    preprocessor = SequencePreprocessor(min_patients_per_value=1).fit(df, ROLES)
    cohort = _generated(preprocessor, n_patients=200, seed=0)

    out = preprocessor.inverse_transform(cohort)

    assert list(out.columns) == list(df.columns)
    assert (out.dtypes == df.dtypes).all()
    assert isinstance(out.index, pd.RangeIndex) and len(out) == cohort.lengths.sum()
    np.testing.assert_array_equal(out.groupby("pid").size().to_numpy(), cohort.lengths)
    np.testing.assert_array_equal(out["pid"].unique(), np.arange(200))
    assert out["pid"].is_monotonic_increasing
    assert (out.groupby("pid")["t"].diff().dropna() > 0).all()  # strictly increasing times
    if times[1] == 1:
        np.testing.assert_array_equal(out["t"], out.groupby("pid").cumcount())
    valid = cohort.length_mask()
    np.testing.assert_array_equal(out["hr"].isna(), ~cohort.observed[:, :, 0][valid])
    assert out["hr"].dropna().between(80.0, 90.0).all()
    assert set(out["unit"].dropna()) <= {"a", "b"}
    assert list(out["unit"].cat.categories) == ["a", "b", "c"]
    assert (out.groupby("pid")[["age", "sex", "died"]].nunique(dropna=False) <= 1).all().all()
    assert set(out["died"]) <= {"no", "yes"}


def test_inverse_rejects_wrong_layout_and_ids():
    preprocessor = SequencePreprocessor(min_patients_per_value=1).fit(_frame(), ROLES)
    cohort = preprocessor.transform(_frame())

    with pytest.raises(InvalidParameterError, match="numeric channels: got 2, fitted 1"):
        preprocessor.inverse_transform(
            replace(cohort, numeric=np.zeros((3, 3, 2)), observed=np.zeros((3, 3, 2), bool))
        )
    with pytest.raises(InvalidParameterError, match="'ids' argument has 2 ids"):
        preprocessor.inverse_transform(cohort, ids=[1, 2])
    with pytest.raises(InvalidParameterError, match="repeats"):
        preprocessor.inverse_transform(cohort, ids=[1, 1, 2])


def test_inverse_sorts_by_given_ids():
    preprocessor = SequencePreprocessor(min_patients_per_value=1).fit(_frame(), ROLES)
    cohort = preprocessor.transform(_frame())

    out = preprocessor.inverse_transform(cohort, ids=[30, 10, 20])

    assert out["pid"].tolist() == [10, 20, 20, 20, 30, 30]


@pytest.mark.parametrize(
    "ids, expected",
    [
        (pd.Series([7, 7, 3], dtype="int32"), [0, 1, 2]),
        (pd.Series(["x", "x", "y"], dtype=object), ["synthetic-000001", "synthetic-000002",
                                                     "synthetic-000003"]),
        (pd.Series(["x", "x", "y"], dtype="str"), ["synthetic-000001", "synthetic-000002",
                                                  "synthetic-000003"]),
    ],
)
def test_fresh_ids_keep_the_id_dtype(ids, expected):
    df = pd.DataFrame({"pid": ids, "t": [0, 1, 0], "hr": [1.0, 2.0, 3.0]})
    preprocessor = SequencePreprocessor(min_patients_per_value=1)
    preprocessor.fit(df, id_col="pid", time_col="t")
    cohort = replace(
        preprocessor.transform(df).subset([0, 1, 0]), lengths=np.array([1, 2, 1])
    )

    out = preprocessor.inverse_transform(cohort)

    assert out["pid"].dtype == ids.dtype
    assert out["pid"].unique().tolist() == expected


def test_fresh_uuid_ids_are_deterministic():
    ids = [uuid.uuid4(), uuid.uuid4()]
    df = pd.DataFrame({"pid": ids, "t": [0, 0], "hr": [1.0, 2.0]})
    preprocessor = SequencePreprocessor(min_patients_per_value=1)
    preprocessor.fit(df, id_col="pid", time_col="t")
    cohort = preprocessor.transform(df)

    first = preprocessor.inverse_transform(cohort)
    second = preprocessor.inverse_transform(cohort)

    assert all(isinstance(v, uuid.UUID) for v in first["pid"])
    assert not set(first["pid"]) & set(ids)
    pd.testing.assert_frame_equal(first, second)
    assert first["pid"].is_monotonic_increasing


def test_fresh_ids_function_widths():
    labels = fresh_ids(1_000_001, "string", np.dtype(object), "pid")
    assert labels[0] == "synthetic-0000001" and labels[-1] == "synthetic-1000001"
    small = fresh_ids(300, "integer", np.dtype("int8"), "pid")
    assert small.dtype == np.int64 and small[-1] == 299  # int8 cannot count 300 patients


@pytest.mark.parametrize(
    "kind, dtype, first",
    [
        ("integer", np.dtype("int64"), 10),
        ("float", np.dtype("float64"), 10.0),
        ("string", np.dtype(object), "synthetic-000011"),
        ("uuid", np.dtype(object), None),
    ],
)
def test_fresh_ids_continue_from_start(kind, dtype, first):
    whole = fresh_ids(15, kind, dtype, "pid")
    head, tail = fresh_ids(10, kind, dtype, "pid"), fresh_ids(5, kind, dtype, "pid", start=10)

    assert head.append(tail).equals(whole)
    assert whole.is_unique and tail.name == "pid"
    if first is not None:
        assert tail[0] == first


def test_fresh_ids_widen_a_small_integer_dtype_past_its_range():
    ids = fresh_ids(3, "integer", np.dtype("int8"), "pid", start=126)
    assert ids.tolist() == [126, 127, 128] and ids.dtype == np.int64


def test_inverse_transform_id_start_numbers_chunks_apart():
    df = frames.cohort()
    df["pid"] = "p" + df["pid"].astype(str)
    preprocessor = SequencePreprocessor(min_patients_per_value=1).fit(df, **frames.ROLES)
    encoded = preprocessor.transform(df)

    first = preprocessor.inverse_transform(encoded.subset(slice(0, 2)))
    second = preprocessor.inverse_transform(encoded.subset(slice(2, 4)), id_start=2)
    whole = preprocessor.inverse_transform(encoded)

    pd.testing.assert_frame_equal(pd.concat([first, second], ignore_index=True), whole)
    assert second["pid"].iloc[0] == "synthetic-000003"
    with pytest.raises(ValueError, match="'id_start' parameter .* Got -1"):
        preprocessor.inverse_transform(encoded, id_start=-1)
    with pytest.raises(ValueError, match="either 'ids' or 'id_start'"):
        preprocessor.inverse_transform(encoded, ids=["a", "b", "c", "d"], id_start=4)


# -- values that few patients have ---------------------------------------------------------------
def _cohort_frame(n_patients=30, seed=0):
    """Irregular times, a lab value, a static age; one patient (id 999) has values of its own."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 6, size=n_patients)
    ids = np.repeat(np.arange(n_patients), lengths)
    times = np.concatenate([np.cumsum(rng.integers(1, 4, size=n)) for n in lengths])
    frame = pd.DataFrame({
        "pid": ids,
        "t": times,
        "lactate": np.round(rng.gamma(4.0, 0.5, size=ids.size), 1),
        "age": np.repeat(rng.integers(40, 80, size=n_patients), lengths).astype(float),
    })
    canary = pd.DataFrame({
        "pid": [999] * 4, "t": [1, 2, 40, 41], "lactate": [31.7, 31.7, 31.7, 2.1234],
        "age": [104.0] * 4,
    })
    return pd.concat([frame, canary], ignore_index=True)


def test_fitted_encoders_keep_no_value_of_a_single_patient():
    df = _cohort_frame()
    roles = {"id_col": "pid", "time_col": "t", "num_cols": ["lactate"], "static_cols": ["age"]}

    preprocessor = SequencePreprocessor().fit(df, roles)

    assert preprocessor.has_gap_channel_
    lactate, gap = preprocessor.numeric_encoders_
    age, start = preprocessor.static_numeric_encoders_  # stays start at times 1 to 3
    assert preprocessor.static_numeric_names_ == ["age", "t.start"]
    # The canary's four rows (31.7 three times) count once: 31.7 is no knot.
    assert not np.isin([31.7, 2.1234], lactate.knot_values_).any()
    assert lactate.max_ < 31.7 and age.max_ < 104.0
    assert 38.0 not in gap.knot_values_  # the canary's gap of 38 time units
    for encoder in (lactate, gap, age, start):
        assert encoder.min_patients_per_value == 5


def test_a_column_measured_in_too_few_patients_is_a_data_error():
    df = _cohort_frame()
    df["cholesterol"] = np.nan
    df.loc[df["pid"].isin([1, 2, 3]), "cholesterol"] = 190.0
    df["ldl"] = np.where(df["pid"] == 4, 120.0, np.nan)
    roles = {"id_col": "pid", "time_col": "t", "num_cols": ["lactate", "cholesterol", "ldl"]}

    with pytest.raises(InvalidDataError) as error:
        SequencePreprocessor().fit(df, roles)

    assert len(error.value.problems) == 2
    assert "Column 'cholesterol' is measured in only 3 patient" in error.value.problems[0]
    assert "Column 'ldl' is measured in only 1 patient" in error.value.problems[1]
    # Constant within each patient, cholesterol would be inferred static: it is a lab.
    assert SequencePreprocessor(min_patients_per_value=3).fit(df.drop(columns="ldl"), roles={
        **roles, "num_cols": ["lactate", "cholesterol"], "static_cols": []}
    ).numeric_encoders_[1].min_ == 190.0


def test_a_categorical_level_of_too_few_patients_is_a_data_error():
    df = _cohort_frame()
    patient_of_row = df["pid"]
    # A temporal code that one patient has on four rows and a static level of two patients:
    # counted in patients, not rows. NaN is no level; a condition class of four patients is
    # the user's label and is kept.
    df["device"] = np.where(patient_of_row == 999, "ecmo", np.where(patient_of_row % 2, "nc", None))
    df["ward"] = np.where(patient_of_row.isin([1, 2]), "burns", "icu")
    df["died"] = np.where(patient_of_row.isin([3, 4, 5, 6]), 1, 0)
    roles = {"id_col": "pid", "time_col": "t", "num_cols": ["lactate"], "cat_cols": ["device"],
             "static_cols": ["ward"], "condition_col": "died"}

    with pytest.raises(InvalidDataError) as error:
        SequencePreprocessor().fit(df, roles)

    problems = error.value.problems
    assert len(problems) == 2
    assert "Column 'device' has 1 level(s) that fewer than 5 patients have ('ecmo')" in problems[0]
    assert "Column 'ward' has 1 level(s)" in problems[1] and "'burns'" in problems[1]
    assert "Group rare levels" in problems[0]
    kept = SequencePreprocessor().fit(df.drop(columns=["device", "ward"]), {
        **roles, "cat_cols": None, "static_cols": None})
    assert list(kept.classes_) == [0, 1]
    fitted = SequencePreprocessor(min_patients_per_value=2).fit(
        df.assign(device=df["device"].replace("ecmo", "nc")), roles)
    assert list(fitted.static_categorical_encoders_[0].levels_) == ["burns", "icu"]


def test_fewer_patients_than_min_patients_per_value_is_a_data_error():
    with pytest.raises(InvalidDataError, match="'pid' \\(id_col\\) has 3 patient"):
        SequencePreprocessor().fit(_frame(), ROLES)
    with pytest.raises(InvalidParameterError, match="min_patients_per_value"):
        SequencePreprocessor(min_patients_per_value=0).fit(_frame(), ROLES)


def _admissions_frame(n_patients=30, seed=0):
    """Datetime times on whole hours; one patient (id 999) is admitted days before anyone
    else at an odd minute, stays longest and has the only half-hour gap."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 6, size=n_patients)
    admitted = pd.Timestamp("2024-01-10") + pd.to_timedelta(
        rng.integers(0, 30 * 24, size=n_patients), unit="h")
    hours = [np.cumsum(np.r_[0, rng.integers(1, 4, size=n - 1)]) for n in lengths]
    frame = pd.DataFrame({
        "pid": np.repeat(np.arange(n_patients), lengths),
        "t": np.concatenate([a + pd.to_timedelta(h, unit="h") for a, h in zip(admitted, hours)]),
        "lactate": np.round(rng.gamma(4.0, 0.5, size=lengths.sum()), 1),
    })
    canary_times = pd.Timestamp("2024-01-01 07:17") + pd.to_timedelta(
        np.r_[0, 0.5, np.arange(2, 12)], unit="h")
    canary = pd.DataFrame({"pid": 999, "t": canary_times, "lactate": 2.0})
    return pd.concat([frame, canary], ignore_index=True), canary_times


def test_the_time_grid_keeps_no_time_of_a_single_patient():
    df, canary_times = _admissions_frame()
    roles = {"id_col": "pid", "time_col": "t", "num_cols": ["lactate"]}

    preprocessor = SequencePreprocessor().fit(df, roles)

    grid, hour = preprocessor.time_grid_, pd.Timedelta("1h").value
    assert grid.unit_ == hour  # the half-hour gap is the canary's alone
    assert grid.min_gap_ == 1
    canary = canary_times.as_unit("ns").asi8
    assert grid.origin_ not in canary and grid.origin_ % hour == 0
    assert canary[0] < grid.origin_ < df.loc[df["pid"] != 999, "t"].min().value
    assert preprocessor.max_length_ > 12  # the canary's 12 rows are the longest stay
    start = preprocessor.static_numeric_encoders_[-1]  # starts vary: a start channel
    kept = grid.start_numbers([start.min_, start.max_, *start.knot_values_])
    assert not np.isin(kept, canary).any()
    # Most starts come back exactly, the extreme ones inside the channel's pooled range;
    # given each stay's own start, only the canary's gap under the unit is lossy.
    cohort, ids = preprocessor.transform(df, return_ids=True)
    out = preprocessor.inverse_transform(cohort, ids=ids)
    expected = df.sort_values(["pid", "t"]).reset_index(drop=True)
    starts = expected.groupby("pid")["t"].first().loc[ids]
    decoded = out.groupby("pid")["t"].first().loc[ids]
    assert (decoded == starts).mean() > 0.8
    low, high = grid.to_time(grid.start_numbers([start.min_, start.max_]))
    assert low <= decoded.min() and decoded.max() <= high
    starts = starts.to_numpy()
    out = preprocessor.inverse_transform(cohort, ids=ids, starts=starts)
    others = expected["pid"] != 999
    pd.testing.assert_frame_equal(out.loc[others, ["pid", "t"]], expected.loc[others, ["pid", "t"]])
    assert (out.groupby("pid")["t"].diff().dropna() >= pd.Timedelta("1h")).all()


def test_the_time_grid_keeps_what_enough_patients_share_exactly():
    df = _frame(times=(0, 1, 2, 0, 1, 0))
    df = pd.concat([df.assign(pid=df["pid"] + 10 * k) for k in range(5)], ignore_index=True)

    preprocessor = SequencePreprocessor().fit(df, ROLES)

    grid = preprocessor.time_grid_
    assert grid.regular_ and (grid.origin_, grid.unit_, grid.step_) == (0, 1, 1)
    assert preprocessor.max_length_ == 3  # five patients have three rows
    cohort, ids = preprocessor.transform(df, return_ids=True)
    out = preprocessor.inverse_transform(cohort, ids=ids)
    pd.testing.assert_frame_equal(out, df.sort_values(["pid", "t"]).reset_index(drop=True))
