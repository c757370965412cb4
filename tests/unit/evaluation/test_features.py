"""patient_features: one row of summaries per patient, static columns of the named kind."""

import numpy as np
import pandas as pd
import pytest

from cdmtehr.evaluation import patient_features


def test_patient_features_summarizes_each_patient():
    frame = pd.DataFrame(
        {
            "id": np.repeat([7, 3], 4),
            "t": [3, 0, 1, 2, 0, 1, 2, 3],
            "hr": [90.0, 80.0, np.nan, 100.0, np.nan, np.nan, np.nan, np.nan],
            "vent": pd.Categorical(["1", None, "1", None, None, None, None, "1"]),
            "age": [60.0] * 4 + [70.0] * 4,
        }
    )
    features = patient_features(frame, id_col="id", time_col="t")
    assert list(features.index) == [3, 7]
    row = features.loc[7]
    assert row["hr__mean"] == pytest.approx(90.0)
    assert row["hr__last"] == 90.0  # time order, not row order
    assert row["hr__min"] == 80.0 and row["hr__max"] == 100.0
    assert row["hr__missing"] == 0.25
    assert row["vent==1"] == 0.5 and row["vent==<missing>"] == 0.5
    assert row["age"] == 60.0 and row["__length"] == 4.0
    assert np.isnan(features.loc[3, "hr__mean"]) and features.loc[3, "hr__missing"] == 1.0


@pytest.mark.parametrize("kind", ["cat_cols", "num_cols", None])
def test_patient_features_static_column_takes_the_named_kind(kind):
    frame = pd.DataFrame(
        {
            "id": np.repeat([7, 3], 2),
            "t": [0, 1, 0, 1],
            "hr": [90.0, 80.0, 70.0, np.nan],
            "unit": np.array([2, 2, 4, 4], dtype="int64"),
        }
    )
    roles = {"num_cols": ["hr"], "cat_cols": [], "static_cols": ["unit"]}
    if kind is not None:
        roles[kind] = [*roles[kind], "unit"]

    features = patient_features(frame, id_col="id", time_col="t", **roles)

    if kind == "cat_cols":  # an integer code named categorical: one indicator per level
        assert features.loc[7, "unit==2"] == 1.0 and features.loc[3, "unit==4"] == 1.0
        assert "unit" not in features.columns
    else:  # named numeric, or numeric by its dtype
        assert features["unit"].tolist() == [4.0, 2.0]
    assert "unit__mean" not in features.columns  # static, not temporal
