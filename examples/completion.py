"""Completion: sample given statics, forecast the second day, impute lost measurements."""

import numpy as np
from _budget import QUICK, budget, subset

from cdmtehr import CDMTSynthesizer
from cdmtehr.datasets import load_physionet2012

df, roles = load_physionet2012(return_roles=True)
ids = df[roles["id_col"]].drop_duplicates()
train = subset(df[df["patient_id"].isin(ids[:3000])], roles["id_col"])
unseen = df[df["patient_id"].isin(ids[3000:3010])]      # ten patients the model never saw
synth = CDMTSynthesizer(random_state=0, **budget()).fit(train, **roles)
steps = 2 if QUICK else 50

# 1. New patients aged 85 in the cardiac ICU: the given values come back exactly.
old = synth.sample(100, given={"Age": 85.0, "ICUType": "CCU"}, steps=steps, random_state=0)
print("given:", old.groupby("patient_id")[["Age", "ICUType"]].first().drop_duplicates())

# 2. The second day of each unseen stay from its first (the outcome is not known yet).
first_day = unseen[unseen["hour"] < 24].drop(columns="in_hospital_death")
futures = synth.forecast(first_day, horizon=24, n_draws=20, steps=steps, random_state=0)
day2 = futures[futures["hour"] >= 24]
band = day2.groupby(["patient_id", "hour"])["HR"].quantile([0.1, 0.5, 0.9]).unstack()
print("heart rate forecast (10/50/90 %):\n", band.groupby("patient_id").mean().round(1))

# 3. A monitor lost HR and MAP for hours 10-14: measured, values unknown. Ten imputations.
lost = unseen[["HR", "MAP"]].notna() & unseen["hour"].between(10, 14).to_numpy()[:, None]
imputed = synth.impute(unseen, mask=lost, n_draws=10, steps=steps, random_state=0)
truth = unseen.loc[lost["HR"], "HR"].to_numpy()
median = imputed.groupby(level=0)["HR"].median()[lost["HR"]].to_numpy()
print(f"imputed HR: mean absolute error {np.abs(median - truth).mean():.1f} bpm "
      f"on {lost['HR'].sum()} values")
