"""Train and sample on a GPU when there is one (device="auto" falls back to the CPU)."""

import time

import torch
from _budget import QUICK, budget, subset

from cdmtehr import CDMTSynthesizer
from cdmtehr.datasets import load_physionet2012

df, roles = load_physionet2012(return_roles=True)
df = subset(df, roles["id_col"])
print("CUDA available:", torch.cuda.is_available())

# A GPU affords a wider network and bigger batches within the same time budget.
params = {} if QUICK else {"hidden_size": 256, "batch_size": 512, "sample_batch_size": 8192}
synth = CDMTSynthesizer(device="auto", random_state=0, **budget(), **params)
synth.fit(df, **roles)
print("trained on", synth.device_, "in", round(synth.fit_seconds_), "s")

start = time.perf_counter()
synthetic = synth.sample(200 if QUICK else 10_000, random_state=0)
elapsed = time.perf_counter() - start
print(f"{synthetic['patient_id'].nunique()} patients in {elapsed:.1f} s")
