"""Bad long frames: each problem is reported, naming its column, and all at once."""

import numpy as np
import pandas as pd
import pytest
from helpers.clinical import ROLES, good_frame

from cdmtehr._validation import check_long_frame
from cdmtehr.exceptions import InvalidDataError, InvalidDataTypeError
from cdmtehr.preprocessing import ColumnRoles, SequencePreprocessor


def _good_frame():
    """Three patients with 3, 2 and 1 hourly rows; an int8 condition."""
    return good_frame(died=np.array([0, 0, 0, 1, 1, 0], dtype="int8"))


def test_good_frame_passes():
    check_long_frame(_good_frame(), ROLES)
    check_long_frame(_good_frame(), ColumnRoles.resolve(_good_frame(), **ROLES))


def _set(col, values):
    def mutate(df):
        df[col] = values
        return df

    return mutate


BAD_FRAMES = {
    "missing numeric column": (
        lambda df: df.drop(columns="HR"),
        "Column 'HR' \\(num_cols\\) is not in the data",
    ),
    "missing id column": (lambda df: df.drop(columns="pid"), "Column 'pid' \\(id_col\\)"),
    "missing time column": (lambda df: df.drop(columns="hour"), "Column 'hour' \\(time_col\\)"),
    "missing categorical column": (lambda df: df.drop(columns="Vent"), "Column 'Vent'"),
    "missing static column": (lambda df: df.drop(columns="Age"), "Column 'Age'"),
    "missing condition column": (lambda df: df.drop(columns="died"), "Column 'died'"),
    "typo suggests the close name": (
        lambda df: df.rename(columns={"Temp": "Tmp"}),
        "Column 'Temp' .*did you mean 'Tmp'",
    ),
    "text in numeric": (
        _set("HR", ["80", "n/a", "85", "?", "112", None]),
        "Column 'HR' \\(num_cols\\) has non-numeric values, e.g. \\['n/a', '\\?'\\] in patients "
        "101, 102",
    ),
    "inf in numeric": (
        _set("Temp", [37.0, np.inf, 37.1, 38.1, np.nan, 36.5]),
        "Column 'Temp' \\(num_cols\\) has 1 infinite values in patients 101",
    ),
    "inf in static numeric": (
        _set("Age", [54.0, 54.0, 54.0, -np.inf, -np.inf, 33.0]),
        "Column 'Age' \\(static_cols\\) has 2 infinite values",
    ),
    "NaN in id": (
        _set("pid", [101, 101, np.nan, 102, 102, 103]),
        "Column 'pid' \\(id_col\\) has 1 missing patient ids",
    ),
    "NaN in time": (
        _set("hour", [0.0, 1.0, np.nan, 0.0, 1.0, 0.0]),
        "Column 'hour' \\(time_col\\) has 1 missing times in patients 101",
    ),
    "duplicate (id, time)": (
        _set("hour", np.array([0, 1, 1, 0, 1, 0], dtype="int16")),
        "Columns 'pid' and 'hour' have 1 duplicate .* patient 101 at time 1",
    ),
    "mixed-type times": (
        _set("hour", pd.Series([0, 1, "2", 0, 1, 0], dtype=object)),
        "Column 'hour' \\(time_col\\) must hold numbers or datetimes.*int, str",
    ),
    "string times": (
        _set("hour", ["a", "b", "c", "a", "b", "a"]),
        "Column 'hour' \\(time_col\\) must hold numbers or datetimes",
    ),
    "static varies within a patient": (
        _set("Age", [54.0, 55.0, 54.0, 71.0, 71.0, 33.0]),
        "Column 'Age' \\(static_cols\\) is not constant within patients .* patient 101 has "
        "\\[54.0, 55.0\\]",
    ),
    "static categorical half missing": (
        _set("Sex", ["F", "F", "F", "M", None, None]),
        "Column 'Sex' \\(static_cols\\) is not constant .* patient 102",
    ),
    "condition varies within a patient": (
        _set("died", np.array([0, 1, 0, 1, 1, 0], dtype="int8")),
        "Column 'died' \\(condition_col\\) is not constant within patients",
    ),
    "condition has NaN": (
        _set("died", [0.0, 0.0, 0.0, np.nan, np.nan, 1.0]),
        "Column 'died' \\(condition_col\\) has missing values in patients 102",
    ),
    "numeric never observed": (
        _set("Temp", np.nan),
        "Column 'Temp' \\(num_cols\\) is never observed",
    ),
    "categorical in a numeric role": (
        _set("HR", pd.Categorical(["a", "b", "a", "b", "a", "b"])),
        "Column 'HR' \\(num_cols\\) has dtype category",
    ),
}


@pytest.mark.parametrize("mutate, message", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_check_long_frame_reports_problem(mutate, message):
    df = mutate(_good_frame())
    before = df.copy(deep=True)

    with pytest.raises(InvalidDataError, match=message):
        check_long_frame(df, ROLES)

    pd.testing.assert_frame_equal(df, before)


@pytest.mark.filterwarnings("ignore::cdmtehr.exceptions.DataWarning")  # the renamed column
@pytest.mark.parametrize("mutate, message", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_preprocessor_fit_reports_problem(mutate, message):
    with pytest.raises(InvalidDataError, match=message):
        SequencePreprocessor().fit(mutate(_good_frame()), ROLES)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"cat_cols": ["Vent", "HR"]}, "'HR' is given several roles \\(num_cols, cat_cols\\)"),
        (
            {"cat_cols": ["Vent", "Age"], "num_cols": ["HR", "Temp", "Age"]},
            "Column 'Age' is given several roles \\(num_cols, cat_cols, static_cols\\)",
        ),
        ({"num_cols": ["HR", "Temp", "pid"]}, "'pid' is given several roles \\(id_col, num_cols"),
        ({"cat_cols": ["Vent", "died"]}, "'died' is given several roles \\(cat_cols, condition"),
        ({"time_col": "pid"}, "'pid' is given several roles \\(id_col, time_col\\)"),
    ],
    ids=["numeric and categorical", "static of two kinds", "id", "condition", "id and time"],
)
def test_check_long_frame_column_in_two_roles(changes, message):
    with pytest.raises(InvalidDataError, match=message):
        check_long_frame(_good_frame(), {**ROLES, **changes})


def test_check_long_frame_static_column_with_a_stated_kind_passes():
    df = _good_frame().assign(Unit=np.array([2, 2, 2, 1, 1, 3], dtype="int64"))
    roles = {**ROLES, "cat_cols": ["Vent", "Unit"], "num_cols": ["HR", "Temp", "Age"],
             "static_cols": ["Age", "Sex", "Unit"]}
    check_long_frame(df, roles)
    check_long_frame(df, ColumnRoles.resolve(df, **roles))


def test_check_long_frame_varying_column_stated_static():
    roles = {**ROLES, "static_cols": ["Age", "Sex", "HR"]}
    with pytest.raises(InvalidDataError, match="Column 'HR' \\(static_cols\\) is not constant "
                       "within patients.*take it out of static_cols"):
        check_long_frame(_good_frame(), roles)


def test_check_long_frame_static_column_stated_numeric_must_hold_numbers():
    roles = {**ROLES, "num_cols": ["HR", "Temp", "Sex"]}
    with pytest.raises(InvalidDataError, match="Column 'Sex' \\(static_cols\\) has non-numeric"):
        check_long_frame(_good_frame(), roles)


def test_check_long_frame_column_listed_twice():
    roles = {**ROLES, "num_cols": ["HR", "Temp", "HR"]}
    with pytest.raises(InvalidDataError, match="Column 'HR' is listed 2 times in num_cols"):
        check_long_frame(_good_frame(), roles)


def test_check_long_frame_duplicate_column_names():
    df = pd.concat([_good_frame(), _good_frame()[["HR"]]], axis=1)
    with pytest.raises(InvalidDataError, match="Column 'HR' appears 2 times in the data"):
        check_long_frame(df, ROLES)


def test_check_long_frame_too_many_levels():
    df = _good_frame()
    df["Vent"] = [f"level {i}" for i in range(6)]
    with pytest.raises(InvalidDataError, match="Column 'Vent' \\(cat_cols\\) has 6 levels, "
                       "more than max_levels=5"):
        check_long_frame(df, ROLES, max_levels=5)
    check_long_frame(df, ROLES, max_levels=6)


def test_check_long_frame_single_class_condition_is_allowed():
    df = _good_frame()
    df["died"] = np.int8(0)
    check_long_frame(df, ROLES)


def test_check_long_frame_empty():
    with pytest.raises(InvalidDataError, match="no rows"):
        check_long_frame(_good_frame().iloc[:0], ROLES)


@pytest.mark.parametrize("data", [None, np.zeros((3, 2)), {"pid": [1]}, pd.Series([1, 2])])
def test_check_long_frame_not_a_dataframe(data):
    with pytest.raises(InvalidDataTypeError, match="pandas DataFrame"):
        check_long_frame(data, ROLES)
    with pytest.raises(TypeError):  # InvalidDataTypeError is a TypeError
        SequencePreprocessor().fit(data, ROLES)


def test_check_long_frame_reports_all_problems_at_once():
    df = _good_frame()
    df["HR"] = ["80", "n/a", "85", "?", "112", None]
    df["Temp"] = [37.0, np.inf, 37.1, 38.1, np.nan, 36.5]
    df["Age"] = [54.0, 55.0, 54.0, 71.0, 71.0, 33.0]
    df = df.drop(columns="Vent")
    before = df.copy(deep=True)

    with pytest.raises(InvalidDataError) as error:
        check_long_frame(df, ROLES)

    problems = error.value.problems
    assert len(problems) == 4
    for col in ("HR", "Temp", "Age", "Vent"):
        assert sum(f"'{col}'" in p for p in problems) == 1, col
        assert f"'{col}'" in str(error.value)
    assert isinstance(error.value, ValueError)
    pd.testing.assert_frame_equal(df, before)


def test_check_long_frame_datetime_and_float_times_pass():
    df = _good_frame()
    df["hour"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(df["hour"], unit="h")
    check_long_frame(df, ROLES)
    df["hour"] = df["hour"].dt.tz_localize(None) - pd.Timestamp("2024-01-01")  # timedelta
    check_long_frame(df, ROLES)
    df["hour"] = [0.0, 0.5, 1.25, 0.0, 3.0, 7.5]
    check_long_frame(df, ROLES)


def test_check_long_frame_object_numbers_pass():
    df = _good_frame()
    df["HR"] = pd.Series([80, None, 85.5, 110, 112, None], dtype=object)
    check_long_frame(df, ROLES)


def test_transform_reports_unseen_levels_by_column():
    preprocessor = SequencePreprocessor(min_patients_per_value=1).fit(_good_frame(), ROLES)
    df = _good_frame()
    df["Sex"] = ["F", "F", "F", "X", "X", None]
    df["died"] = np.array([0, 0, 0, 2, 2, 0], dtype="int8")

    message = "'Sex' has levels never seen in fit: \\['X'\\]"
    with pytest.raises(InvalidDataError, match=message) as e:
        preprocessor.transform(df)
    assert any("'died'" in p for p in e.value.problems)


def test_transform_rejects_longer_stays():
    preprocessor = SequencePreprocessor(min_patients_per_value=1).fit(_good_frame(), ROLES)
    df = _good_frame()
    df.loc[len(df)] = df.iloc[0]
    df.loc[len(df) - 1, "hour"] = 5

    with pytest.raises(InvalidDataError, match="patient 101 has 4 rows, more than the 3"):
        preprocessor.transform(df)
