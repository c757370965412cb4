"""Which variables' measurement times give synthetic stays away, one variable at a time.

The masks-only sequence discriminator (when things were measured, values hidden) tells the
default model's stays from unseen real ones almost perfectly. This script asks which
variables carry that: for each temporal numeric variable alone, the masks-only discriminator
of `cdmtehr.evaluation` on that variable's measurement times (synthetic against the unseen
patients, beside two halves of the unseen patients), and the distribution of the hours between
consecutive measurements of a stay: the share of gaps of 1, 2, 3, 4 and 5 or more hours, real
and synthetic, and the KS statistic between the two gap distributions. Nursing charts come in
rounds (a score or a temperature every 4 hours, with extra checks in between), so a model
that places measurements without that rhythm shows it in these shares.

The first rows score every mask together, and the numeric variables' masks together.

    python benchmarks/measurement_timing.py --model benchmarks/results/models/default_600s.cdmt
"""

from __future__ import annotations

import json

import _common as C
import numpy as np
import pandas as pd

from cdmtehr.evaluation import evaluate
from cdmtehr.evaluation.fidelity import ks_wasserstein

# Gaps of these many hours get their own share; longer ones share the last column.
GAP_HOURS = (1, 2, 3, 4)
# Fewest measured gaps (in each cohort) for a variable's row.
MIN_GAPS = 10


def gaps(frame, roles, column):
    """Hours between consecutive measurements of `column` within each stay."""
    id_col, time_col = roles["id_col"], roles["time_col"]
    measured = frame.loc[frame[column].notna(), [id_col, time_col]].sort_values([id_col, time_col])
    return measured.groupby(id_col)[time_col].diff().dropna().to_numpy("float64")


def gap_shares(values, prefix):
    """Share of gaps of each of `GAP_HOURS` hours, and of longer ones."""
    shares = {f"{prefix}_{h}h": float(np.mean(np.isclose(values, h))) for h in GAP_HOURS}
    shares[f"{prefix}_{GAP_HOURS[-1] + 1}h+"] = float(np.mean(values > GAP_HOURS[-1] + 0.5))
    return shares


def halves(frame, roles, seed):
    """`frame` split into two random halves of its patients."""
    id_col = roles["id_col"]
    ids = np.sort(frame[id_col].unique())
    first = np.random.default_rng(seed).permutation(len(ids)) % 2 == 0
    return frame[frame[id_col].isin(ids[first])], frame[frame[id_col].isin(ids[~first])]


def masks_auroc(real, synthetic, roles, columns, seed):
    """Masks-only sequence AUROC of `synthetic` against `real` on `columns` alone."""
    id_col, time_col = roles["id_col"], roles["time_col"]
    keep = [id_col, time_col, *columns]
    scores = evaluate(real[keep], synthetic[keep], id_col=id_col, time_col=time_col,
                      num_cols=list(columns), cat_cols=[], static_cols=[],
                      metrics=("discriminative",), discriminators=("sequence_masks",),
                      random_state=seed)
    return scores["disc_sequence_masks_auroc"]


def timing_table(real, synthetic, roles, seed):
    """One row for all masks, one for the numeric masks, then one per variable (most telling
    first)."""
    split = halves(real, roles, seed)
    everything = evaluate(real, synthetic, metrics=("discriminative",),
                          discriminators=("sequence_masks",), random_state=seed, **roles)
    floor = evaluate(*split, metrics=("discriminative",), discriminators=("sequence_masks",),
                     random_state=seed, **roles)
    columns = C.temporal_numeric(roles)
    rows = [{"masks": "all", "masks_auroc": everything["disc_sequence_masks_auroc"],
             "floor": floor["disc_sequence_masks_auroc"]},
            {"masks": "numeric variables", "masks_auroc": masks_auroc(real, synthetic, roles,
                                                                      columns, seed),
             "floor": masks_auroc(*split, roles, columns, seed)}]
    per_variable = []
    for column in columns:
        real_gaps, synthetic_gaps = gaps(real, roles, column), gaps(synthetic, roles, column)
        if min(real_gaps.size, synthetic_gaps.size) < MIN_GAPS:
            continue
        per_variable.append({
            "masks": column,
            "masks_auroc": masks_auroc(real, synthetic, roles, [column], seed),
            "floor": masks_auroc(*split, roles, [column], seed),
            "gap_ks": ks_wasserstein(real_gaps, synthetic_gaps)[0],
            **gap_shares(real_gaps, "real"), **gap_shares(synthetic_gaps, "synthetic")})
        print(json.dumps(per_variable[-1]), flush=True)
    per_variable.sort(key=lambda row: -row["masks_auroc"])
    return pd.DataFrame(rows + per_variable)


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0], n=1000)
    C.add_sampling_arguments(p)
    args = p.parse_args(argv)
    if args.docs_from:
        C.docs_from(args.docs_from, write_docs)
        return
    train, test, roles = C.load_split(args.quick, args.seed)
    n = C.QUICK["n"] if args.quick else args.n
    synth = C.default_model(args, train, roles, "measurement_timing")
    synthetic = synth.sample(n, steps=args.steps, sampler=args.sampler, random_state=args.seed)
    table = timing_table(test, synthetic, roles, args.seed)
    result = {**C.sampled_model_result(args, synth), "n": n, "table": C.table_to_json(table)}
    C.print_table(shares_table(table))
    C.finish("measurement_timing", result, args, write_docs)


def shares_table(table):
    """The table with each gap share as 'real / synthetic'."""
    out = table[["masks", "masks_auroc", "floor"]].copy()
    if "gap_ks" not in table:
        return out
    out["gap_ks"] = table["gap_ks"]
    hours = [f"{h}h" for h in GAP_HOURS] + [f"{GAP_HOURS[-1] + 1}h+"]
    for hour in hours:
        out[f"gaps_{hour}"] = [
            "" if pd.isna(a) else f"{C.fmt(float(a))} / {C.fmt(float(b))}"
            for a, b in zip(table[f"real_{hour}"], table[f"synthetic_{hour}"])]
    return out


def write_docs(result, path=None):
    table = C.table_from_json(result["table"])
    lines = [f"Command: `{result['command']}` ({result['optimizer_steps']} optimizer steps) — "
             f"machine: {C.machine_line(result['machine'])}.", "",
             f"{result['n']} patients sampled at {C.sampling_words(result)}, against the "
             "unseen patients. *masks_auroc*: the masks-only sequence discriminator on those "
             "masks alone; *floor*: the same between two halves of the unseen patients; "
             "*gap_ks*: KS statistic between the real and synthetic hours from one measurement "
             "to the next; *gaps_k*: share of those gaps of k hours, real / synthetic.", "",
             *C.markdown_table(shares_table(table))]
    C.update_docs("measurement_timing", "Which variables' measurement times give the stays "
                  "away", lines, path)


if __name__ == "__main__":
    main()
