"""Conditional sampling: generate the minority class (in-hospital death) with guidance."""

from _budget import budget, subset

from cdmtehr import CDMTSynthesizer
from cdmtehr.datasets import load_physionet2012

df, roles = load_physionet2012(return_roles=True)   # condition_col = "in_hospital_death"
df = subset(df, roles["id_col"])
synth = CDMTSynthesizer(random_state=0, **budget()).fit(df, **roles)

# All patients of one class ...
deaths = synth.sample(500, condition=1, random_state=0)
# ... a balanced cohort from a {class: count} dict ...
balanced = synth.sample(1000, condition={0: 500, 1: 500}, random_state=0)
# ... or guidance above 1 to push patients further towards their class.
strong = synth.sample(500, condition=1, guidance_scale=2.0, random_state=0)

for name, cohort in [("deaths", deaths), ("balanced", balanced), ("guided", strong)]:
    per_patient = cohort.groupby("patient_id").agg(
        death=("in_hospital_death", "first"), lactate=("Lactate", "mean"), gcs=("GCS", "mean")
    )
    print(name, per_patient.groupby("death")[["lactate", "gcs"]].mean().round(2).to_dict())
