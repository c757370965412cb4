"""Fit SDV's PARSynthesizer under a wall-clock budget and sample; run by peers.py in the SDV venv.

SDV (and its pandas 2.x pin) lives in its own virtual environment, so peers.py runs this file
as a subprocess with that environment's python and the two exchange parquet files:

    $CDMTEHR_SDV_PYTHON benchmarks/_par_worker.py --train train.parquet --roles roles.json \
        --out synthetic.parquet --info info.json --max-time 600 -n 1000 --seed 0

The budget: PAR (deepecho's PARModel) has an epoch count and no time limit, and one of its
epochs is one full-batch optimizer step over all sequences. We run it *epoch by epoch*:
deepecho's training loop iterates over ``tqdm(range(epochs))``; we replace that iterator by
one that starts the clock at the first epoch and stops starting new epochs once `max_time`
seconds have passed (the last epoch may overrun, as a cdmtehr step does). The clock covers
the training loop, like cdmtehr's ``max_time``; SDV's preprocessing and the context model
(a Gaussian copula over the static columns and the label) come on top and are in
``fit_seconds``.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch


class BudgetIterator:
    """Yield 0, 1, ... up to `max_epochs`, starting no epoch after `budget` seconds."""

    def __init__(self, max_epochs: int, budget: float):
        self.max_epochs = max_epochs
        self.budget = budget
        self.epochs = 0
        self.seconds = 0.0

    def __iter__(self):
        start = time.perf_counter()
        for epoch in range(self.max_epochs):
            if epoch > 0 and time.perf_counter() - start >= self.budget:
                break
            self.epochs = epoch + 1
            yield epoch
            self.seconds = time.perf_counter() - start

    def set_description(self, *args, **kwargs):  # tqdm's API, in case verbose is on
        pass


def sdv_metadata(df: pd.DataFrame, roles: dict):
    """SDV metadata: sequence key the patient id, sequence index the hour."""
    from sdv.metadata import Metadata

    columns = {roles["id_col"]: {"sdtype": "id"}, roles["time_col"]: {"sdtype": "numerical"}}
    categorical = set(roles["cat_cols"]) | {roles["condition_col"]}
    for column in roles["num_cols"] + roles["cat_cols"] + roles["static_cols"] + [
        roles["condition_col"]
    ]:
        is_cat = column in categorical or not pd.api.types.is_numeric_dtype(df[column])
        columns[column] = {"sdtype": "categorical" if is_cat else "numerical"}
    return Metadata.load_from_dict(
        {
            "METADATA_SPEC_VERSION": "V1",
            "tables": {
                "physionet": {
                    "columns": columns,
                    "sequence_key": roles["id_col"],
                    "sequence_index": roles["time_col"],
                }
            },
        }
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True)
    p.add_argument("--roles", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--info", required=True)
    p.add_argument("--max-time", type=float, required=True)
    p.add_argument("--max-epochs", type=int, default=10**9)
    p.add_argument("-n", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import deepecho.models.par as deepecho_par
    import sdv
    from sdv.sequential import PARSynthesizer

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    roles = json.loads(open(args.roles).read())
    df = pq.read_table(args.train).to_pandas()
    for column in df.columns:  # SDV wants plain object columns for categories
        if isinstance(df[column].dtype, pd.CategoricalDtype):
            df[column] = df[column].astype(object).where(df[column].notna(), None)
    metadata = sdv_metadata(df, roles)
    context = list(roles["static_cols"]) + [roles["condition_col"]]

    budget = BudgetIterator(args.max_epochs, args.max_time)
    deepecho_par.tqdm = lambda iterable, disable=True: budget  # epoch by epoch, see docstring
    synth = PARSynthesizer(metadata, context_columns=context, epochs=args.max_epochs,
                           verbose=False, cuda=False)
    start = time.perf_counter()
    synth.fit({"physionet": df})  # sdv 2.x: {table name: frame}
    fit_seconds = time.perf_counter() - start

    start = time.perf_counter()
    sampled = synth.sample_sequences(args.n)
    sample_seconds = time.perf_counter() - start
    if isinstance(sampled, dict):  # sdv 2.x returns {table: frame}
        (sampled,) = sampled.values()
    sampled.to_parquet(args.out, index=False)
    info = {
        "sdv": sdv.__version__,
        "torch_threads": torch.get_num_threads(),
        "fit_seconds": fit_seconds,
        "train_loop_seconds": budget.seconds,
        "epochs": budget.epochs,
        "budget_mode": "epoch by epoch: deepecho's epoch loop stops starting epochs after "
                       "max_time seconds (full-batch epochs, one optimizer step each)",
        "sample_seconds": sample_seconds,
        "patients": args.n,
        "rows": len(sampled),
    }
    with open(args.info, "w") as handle:
        json.dump(info, handle, indent=2)


if __name__ == "__main__":
    main()
