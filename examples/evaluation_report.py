"""Evaluate a synthetic cohort against held-out real patients and write an HTML report."""

import sys

from _budget import budget, subset

from cdmtehr import CDMTSynthesizer
from cdmtehr.datasets import load_physionet2012
from cdmtehr.evaluation import evaluate, write_report

df, roles = load_physionet2012(return_roles=True)
df = subset(df, roles["id_col"], n=120)
ids = df[roles["id_col"]].drop_duplicates().sample(frac=1.0, random_state=0)
cut = int(len(ids) * 0.75)
train = df[df[roles["id_col"]].isin(ids[:cut])]    # what the model sees
holdout = df[df[roles["id_col"]].isin(ids[cut:])]  # what it never sees (privacy, utility)

synth = CDMTSynthesizer(random_state=0, **budget()).fit(train, **roles)
synthetic = synth.sample(len(ids) - cut, random_state=0)

scores = evaluate(train, synthetic, holdout, **roles)
for key in ["disc_auroc", "ks_mean", "missing_rate_diff", "tstr_trtr_auroc_ratio", "dcr_ratio"]:
    print(f"{key:>24}: {scores.get(key, float('nan')):.3f}")

path = sys.argv[1] if len(sys.argv) > 1 else "report.html"
write_report(train, synthetic, path, holdout, scores=scores, **roles)
print("open", path, "in a browser")
