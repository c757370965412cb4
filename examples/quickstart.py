"""Quickstart: fit on the bundled PhysioNet 2012 data and sample a synthetic cohort."""

from _budget import budget, subset

from cdmtehr import CDMTSynthesizer
from cdmtehr.datasets import load_physionet2012

# 4,000 real ICU stays x 48 hours, and the role of each column (id, time, numeric, ...).
df, roles = load_physionet2012(return_roles=True)
df = subset(df, roles["id_col"])

# Ten minutes of training on a laptop CPU; random_state makes it reproducible.
synth = CDMTSynthesizer(random_state=0, verbose=True, **budget())
synth.fit(df, **roles)

# 1,000 new patients, shaped like the input: same columns, dtypes, NaN where not measured.
synthetic = synth.sample(1000, random_state=0)
print(synthetic.head())
print("mortality:", synthetic.groupby("patient_id")["in_hospital_death"].first().mean())
print(synth.get_loss_values().tail())
