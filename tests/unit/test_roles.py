"""ColumnRoles: inference from dtypes, single names, the report of unnamed columns, and the
kind of static columns (stated in num_cols or cat_cols, else from the dtype)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from cdmtehr import preprocessing
from cdmtehr.exceptions import DataWarning, InvalidDataTypeError, InvalidParameterError
from cdmtehr.preprocessing import SequencePreprocessor
from cdmtehr.roles import ColumnRoles


def _frame():
    return pd.DataFrame(
        {
            "pid": [1, 1, 2],
            "t": [0, 1, 0],
            "hr": [80.0, 81.0, np.nan],
            "gcs": np.array([15, 14, 3], dtype="int64"),
            "vent": pd.Categorical(["0", "1", None]),
            "note": ["a", "b", None],
            "flag": [True, False, True],
            "age": [50.0, 50.0, 70.0],
            "admitted": pd.to_datetime(["2024-01-01"] * 3),
            "died": [0, 0, 1],
        }
    )


def test_resolve_infers_roles_from_dtypes():
    with pytest.warns(DataWarning, match="'admitted' \\(datetime64"):
        roles = ColumnRoles.resolve(
            _frame(), "pid", "t", static_cols=["age"], condition_col="died"
        )

    assert roles.num_cols == ("hr", "gcs")
    assert roles.cat_cols == ("vent", "note", "flag")
    assert roles.static_cols == ("age",)
    assert roles.condition_col == "died"


def test_resolve_reports_unnamed_columns_in_one_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        roles = ColumnRoles.resolve(
            _frame(), "pid", "t", num_cols=["hr"], cat_cols=["vent"], condition_col="died"
        )

    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(messages) == 1
    for col in ("gcs", "note", "flag", "age", "admitted"):
        assert f"'{col}'" in messages[0]
    assert roles.columns == ["pid", "t", "hr", "vent", "died"]


def test_resolve_with_one_role_given_infers_the_other():
    with pytest.warns(DataWarning, match="'gcs'"):
        roles = ColumnRoles.resolve(_frame().drop(columns="admitted"), "pid", "t",
                                    num_cols="hr", static_cols="age", condition_col="died")
    assert roles.num_cols == ("hr",)
    assert roles.cat_cols == ("vent", "note", "flag")


def test_resolve_accepts_a_single_name_for_a_list_role():
    with pytest.warns(DataWarning):
        roles = ColumnRoles.resolve(_frame(), "pid", "t", num_cols="hr", cat_cols="vent",
                                    static_cols="age")
    assert roles.num_cols == ("hr",)
    assert roles.cat_cols == ("vent",)
    assert roles.static_cols == ("age",)


def test_resolve_rejects_sets_and_non_frames():
    with pytest.raises(InvalidParameterError, match="'num_cols'"):
        ColumnRoles.resolve(_frame(), "pid", "t", num_cols={"hr", "gcs"})
    with pytest.raises(InvalidDataTypeError, match="pandas DataFrame"):
        ColumnRoles.resolve(_frame().to_numpy(), "pid", "t")


def test_one_roles_type_for_the_whole_package():
    assert preprocessing.ColumnRoles is ColumnRoles


def test_with_static_kinds_types_unstated_static_columns_by_dtype():
    roles = ColumnRoles("pid", "t", static_cols=("age", "note", "gcs"))
    assert roles.static_num_cols == roles.static_cat_cols == ()

    kinds = roles.with_static_kinds(_frame())

    assert kinds.static_num_cols == ("age", "gcs")
    assert kinds.static_cat_cols == ("note",)
    assert kinds.static_cols == roles.static_cols


def test_a_static_column_named_in_num_or_cat_cols_takes_that_kind():
    roles = ColumnRoles("pid", "t", num_cols=("hr", "age"), cat_cols=("vent", "gcs"),
                        static_cols=("age", "gcs", "note"))

    assert roles.temporal_num_cols == ("hr",)
    assert roles.temporal_cat_cols == ("vent",)
    kinds = roles.with_static_kinds(_frame())
    # gcs holds integers but is named categorical; note's kind comes from its dtype.
    assert kinds.static_num_cols == ("age",)
    assert kinds.static_cat_cols == ("gcs", "note")
    assert roles.columns == ["pid", "t", "hr", "age", "vent", "gcs", "note"]


def test_with_static_kinds_leaves_absent_columns_alone():
    roles = ColumnRoles("pid", "t", static_cols=("age", "absent"))
    kinds = roles.with_static_kinds(_frame())
    assert kinds.static_num_cols == ("age",)
    assert "absent" not in kinds.num_cols + kinds.cat_cols


def test_resolve_keeps_the_stated_kind_of_a_static_column():
    df = _frame().drop(columns="admitted")
    roles = ColumnRoles.resolve(df, "pid", "t", cat_cols=["vent", "note", "flag", "gcs"],
                                static_cols=["gcs"], condition_col="died")

    assert roles.num_cols == ("hr", "age")  # gcs is named, so not inferred numeric
    assert roles.static_cat_cols == ("gcs",)
    assert roles.temporal_cat_cols == ("vent", "note", "flag")


def test_to_dict_round_trips_through_fit():
    df = _frame().drop(columns=["admitted"])
    roles = ColumnRoles("pid", "t", ("hr", "gcs"), ("vent", "note", "flag"), ("age",), "died")

    preprocessor = SequencePreprocessor(min_patients_per_value=1).fit(df, **roles.to_dict())

    assert preprocessor.roles_ == roles
    assert SequencePreprocessor(min_patients_per_value=1).fit(df, roles).roles_ == roles


def test_fit_requires_id_and_time():
    with pytest.raises(InvalidParameterError, match="'time_col'"):
        SequencePreprocessor().fit(_frame(), id_col="pid")
    with pytest.raises(InvalidParameterError, match="not both"):
        SequencePreprocessor().fit(_frame(), {"id_col": "pid", "time_col": "t"}, id_col="pid")


def test_static_integer_named_categorical_round_trips_through_the_preprocessor():
    df = pd.DataFrame({"pid": [1, 1, 2, 3], "t": [0, 1, 0, 0], "hr": [80.0, 82.0, 90.0, 70.0],
                       "icu": np.array([4, 4, 2, 4], dtype="int64")})
    pre = SequencePreprocessor(min_patients_per_value=1).fit(
        df, id_col="pid", time_col="t", num_cols=["hr"], cat_cols=["icu"], static_cols=["icu"]
    )

    assert pre.static_categorical_names_ == ["icu"]
    assert pre.static_categorical_levels_ == (2,)
    assert pre.categorical_names_ == [] and pre.static_numeric_names_ == []
    cohort, ids = pre.transform(df, return_ids=True)
    pd.testing.assert_frame_equal(pre.inverse_transform(cohort, ids=ids), df)


def test_columns_constant_within_every_patient_are_inferred_static():
    df = pd.DataFrame({
        "pid": [1, 1, 2, 2, 3],
        "t": [0, 1, 0, 1, 0],
        "hr": [80.0, 82.0, 90.0, 91.0, 70.0],
        "age": [60.0, 60.0, np.nan, np.nan, 71.0],  # missing counts as one value
        "unit": ["micu", "micu", "sicu", "sicu", "micu"],
        "lab": [1.0, np.nan, np.nan, np.nan, 2.0],  # measured, then not: over time
        "died": [0, 0, 1, 1, 0],
    })

    with pytest.warns(DataWarning, match=r"constant within every patient .*\['age', 'unit'\]"):
        roles = ColumnRoles.resolve(df, "pid", "t", condition_col="died")

    assert roles.static_cols == ("age", "unit") and roles.temporal_num_cols == ("hr", "lab")
    assert ColumnRoles.resolve(df, "pid", "t", static_cols=[]).static_cols == ()
    one_row_each = df.drop_duplicates("pid")
    assert ColumnRoles.resolve(one_row_each, "pid", "t").static_cols == ()
