"""Experiment: model "this value repeats the previous one" as a categorical channel.

Charted EHR values are often carried forward exactly (PhysioNet 2012 set a: 98.9 % of
Weight values after the first repeat the previous one, 74 % of FiO2, 73 % of GCS), which a
continuous diffusion cannot reproduce: its values are never exactly equal, so a synthetic
weight moves within a stay where a real one does not. Here, on the DataFrame and before
fitting, every numeric variable whose repeat share in the training patients is at least
`--min-share` gets a categorical column ``<var>__repeat`` ("1": observed and equal to the
previous observed value of the stay, "0": observed and different, NaN: not observed). After
sampling, a value flagged "1" is replaced by the last unflagged observed value before it, and
the flag columns are dropped. Scored as noise_correlation.py scores (fidelity and
discriminator of ``evaluate`` against the training patients; within-stay spread against the
unseen ones).

    OMP_NUM_THREADS=1 python benchmarks/repeat_experiment.py --max-time 600 --min-share 0.1
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

import _common as C
from cdmtehr import CDMTSynthesizer

SUFFIX = "__repeat"


def repeat_shares(df, id_col, num_cols) -> dict:
    """Share of observed values (after a stay's first) equal to the previous observed one."""
    shares = {}
    for col in num_cols:
        observed = df[[id_col, col]].dropna()
        previous = observed.groupby(id_col)[col].shift()
        has = previous.notna()
        shares[col] = float((observed[col][has] == previous[has]).mean()) if has.any() else 0.0
    return shares


def add_repeat_flags(df, id_col, columns) -> pd.DataFrame:
    """The frame with a ``<col>__repeat`` categorical column per column in `columns`."""
    flags = {}
    for col in columns:
        observed = df[col].notna()
        previous = df[col].where(observed).groupby(df[id_col]).ffill()
        previous = previous.groupby(df[id_col]).shift()
        flag = pd.Series(np.where(df[col] == previous, "1", "0"), index=df.index, dtype=object)
        flags[col + SUFFIX] = flag.where(observed)
    return df.assign(**flags)


def apply_repeat_flags(df, id_col, columns) -> pd.DataFrame:
    """Copy the last unflagged observed value into flagged cells; drop the flag columns."""
    out = df.copy()
    for col in columns:
        observed = out[col].notna()
        repeat = observed & (out[col + SUFFIX] == "1")
        anchors = out[col].where(observed & ~repeat)
        carried = anchors.groupby(out[id_col]).ffill()
        out[col] = out[col].where(~(repeat & carried.notna()), carried)
    return out.drop(columns=[c + SUFFIX for c in columns])


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--min-share", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=50)
    args = p.parse_args(argv)
    train, test, roles = C.load_split(args.quick, args.seed)
    if args.quick:
        args.n, args.steps = C.QUICK["n"], 3
    id_col = roles["id_col"]
    shares = repeat_shares(train, id_col, roles["num_cols"])
    flagged = [c for c in roles["num_cols"] if shares[c] >= args.min_share]
    print(f"flagged {len(flagged)} variables: {flagged}", flush=True)
    augmented = add_repeat_flags(train, id_col, flagged)
    fit_roles = {**roles, "cat_cols": [*roles["cat_cols"], *(c + SUFFIX for c in flagged)]}
    params = C.model_params(args.quick)
    synth = CDMTSynthesizer(max_time=args.max_time, epochs=params.pop("epochs", None),
                            random_state=args.seed, **params)
    start = time.perf_counter()
    synth.fit(augmented, **fit_roles)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    synthetic = synth.sample(args.n, steps=args.steps, random_state=args.seed)
    ms = (time.perf_counter() - start) / args.n * 1000
    synthetic = apply_repeat_flags(synthetic, id_col, flagged)
    scores, spread = C.fidelity_and_spread(train, test, synthetic, roles, args.seed)
    training = C.training_summary(synth.history_, synth.batch_size,
                                  train[id_col].nunique(), fit_seconds)
    row = {
        "min_share": args.min_share,
        "flagged": len(flagged),
        "optimizer_steps": training["optimizer_steps"],
        "disc_auroc": scores["disc_auroc"],
        "disc_summary_auroc": scores["disc_summary_auroc"],
        "disc_sequence_auroc": scores["disc_sequence_auroc"],
        "ks_mean": scores["ks_mean"],
        "missing_rate_diff": scores["missing_rate_diff"],
        "spread_ratio_median": float(spread["ratio"].dropna().median()),
        "ms_per_patient": ms,
    }
    print(pd.DataFrame([row]).to_string(index=False))
    print(spread.sort_values("ratio", ascending=False).to_string(index=False))
    result = {"command": C.command(), "machine": C.machine(), "quick": args.quick,
              "row": row, "shares": shares, "spread": C.table_to_json(spread),
              "scores": scores}
    path = C.save_result("repeat_experiment", result, args.quick, args.output)
    print(f"results: {path}")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
