"""Completion on real PhysioNet stays with a tiny fitted model (repeat levels, masks, statics)."""

import numpy as np
import pandas as pd
import pytest
from helpers.frames import TINY

from cdmtehr import CDMTSynthesizer


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


def test_a_hospital_export_is_forecast_from_each_stays_own_admission():
    rng = np.random.default_rng(0)
    lengths = rng.integers(4, 8, 40)
    admitted = pd.Timestamp("2023-01-01", tz="America/New_York") + pd.to_timedelta(
        rng.integers(0, 525_600, 40), unit="min")
    hours = np.concatenate([np.arange(n) for n in lengths])
    df = pd.DataFrame({
        "pid": np.repeat([f"icu-{i:04d}" for i in range(40)], lengths),
        "charttime": np.repeat(admitted, lengths) + pd.to_timedelta(hours, unit="h"),
        "hr": rng.normal(85, 12, hours.size).round(),
        "sex": np.repeat(rng.choice(["F", "M"], 40), lengths),
    })
    synth = CDMTSynthesizer(**TINY).fit(df, id_col="pid", time_col="charttime",
                                       num_cols=["hr"], static_cols=["sex"])
    first_hours = df[hours < 2]

    future = synth.forecast(first_hours, horizon=3, n_draws=2, steps=2, random_state=0)
    sampled = synth.sample(50, steps=2, random_state=0)

    assert future["charttime"].dtype == df["charttime"].dtype
    own_start = df.groupby("pid")["charttime"].first()
    elapsed = (future["charttime"] - future["pid"].map(own_start)) / pd.Timedelta("1h")
    assert (future.groupby(["draw", "pid"]).size() == 5).all()
    np.testing.assert_array_equal(elapsed, future.groupby(["draw", "pid"]).cumcount())
    starts = sampled.groupby("pid")["charttime"].first()
    assert starts.nunique() > 10 and (starts.dt.second == 0).all()
    steps = sampled.groupby("pid")["charttime"].diff().dropna()
    assert (steps == pd.Timedelta("1h")).all()
