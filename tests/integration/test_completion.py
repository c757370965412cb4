"""Completion on real PhysioNet stays with a tiny fitted model (repeat levels, masks, statics)."""

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def stays(physionet_small):
    df, roles = physionet_small
    return df[df[roles["id_col"]].isin(df[roles["id_col"]].unique()[:4])], roles


def test_forecast_impute_and_given_on_real_stays(physionet_model, stays):
    df, roles = stays
    num = roles["num_cols"]
    assert physionet_model.layout_.repeated_values  # charted channels: the subtle case
    prefix = df[df["hour"] < 12]
    future = physionet_model.forecast(prefix, n_draws=2, steps=3, random_state=0)
    first = future[(future["draw"] == 1) & (future["hour"] < 12)].drop(columns="draw")
    pd.testing.assert_frame_equal(first.reset_index(drop=True), prefix.reset_index(drop=True))
    assert (future.groupby(["draw", "patient_id"]).size() == 48).all()

    rng = np.random.default_rng(0)
    mask = df[num].notna() & (rng.random((len(df), len(num))) < 0.3)
    mask["Age"] = df["hour"].eq(0).to_numpy() & (df["patient_id"] == df["patient_id"].iloc[0])
    out = physionet_model.impute(df, mask=mask, random_state=0, steps=3)
    drawn = out[num].to_numpy(dtype=float)[mask[num].to_numpy()]
    assert drawn.size > 50 and not np.isnan(drawn).any()
    pd.testing.assert_frame_equal(out[num].where(~mask[num]), df[num].where(~mask[num]))
    assert out.groupby("patient_id")["Age"].nunique().eq(1).all()  # drawn for the whole stay

    given = physionet_model.sample(3, given={"Age": 81.0, "ICUType": "CSRU"}, steps=3,
                                   random_state=0)
    assert (given["Age"] == 81.0).all() and (given["ICUType"] == "CSRU").all()
