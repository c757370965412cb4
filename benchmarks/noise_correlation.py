"""Ablation: white diffusion noise against noise correlated along time (``noise_correlation``).

On PhysioNet 2012 set a (the 3,000 / 1,000 split of physionet_cpu.py), one CDMTSynthesizer per
value of `--correlations`, each with the defaults, the same seed and the same budget
(``max_time=B``, no epoch limit). Each samples `-n` patients at 50 Euler steps, scored against
the unseen patients with the fidelity and discriminator scores of
``cdmtehr.evaluation.evaluate``, plus the within-stay spread the summary discriminator keys on:
for every numeric variable, the median over patients of its within-stay standard deviation,
synthetic divided by real (1 is right; the white-noise default overshoots, see
separating_features.py).

Writes ``benchmarks/results/noise_correlation.json`` and the ``noise_correlation`` section of
docs/benchmarks.md.

    python benchmarks/noise_correlation.py --max-time 600 --correlations 0 0.9
    python benchmarks/noise_correlation.py --quick
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

import _common as C
from cdmtehr import CDMTSynthesizer

NAME = "noise_correlation"


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--correlations", type=float, nargs="+", default=[0.0, 0.9])
    p.add_argument("--steps", type=int, default=50)
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    if args.quick:
        args.n, args.steps = C.QUICK["n"], 3

    train, test, roles = C.load_split(args.quick, args.seed)
    n_train = train[roles["id_col"]].nunique()
    rows, spreads = [], {}
    for correlation in args.correlations:
        params = C.model_params(args.quick)
        synth = CDMTSynthesizer(max_time=args.max_time, epochs=params.pop("epochs", None),
                                noise_correlation=correlation, random_state=args.seed, **params)
        print(f"[{NAME}] fitting noise_correlation={correlation:g} for up to "
              f"{args.max_time:g} s ...", flush=True)
        start = time.perf_counter()
        synth.fit(train, **roles)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        synthetic = synth.sample(args.n, steps=args.steps, random_state=args.seed)
        ms = (time.perf_counter() - start) / args.n * 1000
        scores, spread = C.fidelity_and_spread(train, test, synthetic, roles, args.seed)
        spreads[f"{correlation:g}"] = C.table_to_json(spread)
        training = C.training_summary(synth.history_, synth.batch_size, n_train, fit_seconds)
        ratio = spread["ratio"].dropna()
        rows.append({
            "noise_correlation": correlation,
            "optimizer_steps": training["optimizer_steps"],
            "disc_auroc": scores["disc_auroc"],
            "disc_summary_auroc": scores.get("disc_summary_auroc", np.nan),
            "disc_sequence_auroc": scores.get("disc_sequence_auroc", np.nan),
            "ks_mean": scores["ks_mean"],
            "missing_rate_diff": scores["missing_rate_diff"],
            "spread_ratio_median": float(ratio.median()),
            # Real weights do not move within a stay (median sd 0), so a ratio is undefined.
            "Weight_within_sd": float(spread.set_index("variable")["synthetic_sd"].get(
                "Weight", np.nan)),
            "ms_per_patient": ms,
        })
        print(pd.DataFrame([rows[-1]]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    C.print_table(table)
    result = {
        "command": C.command(),
        "machine": C.machine(),
        "quick": args.quick,
        "max_time": args.max_time,
        "n": args.n,
        "steps": args.steps,
        "tables": {"correlations": C.table_to_json(table), "spread": spreads},
    }
    path = C.save_result(NAME, result, args.quick, args.output)
    print(f"results: {path}")
    if not args.quick:
        write_docs(result)
    return result


def write_docs(result, docs=None):
    """Rewrite the noise_correlation section of docs/benchmarks.md."""
    table = C.table_from_json(result["tables"]["correlations"])
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"One model per noise correlation, each fitted for {result['max_time']:g} s with the "
        f"defaults otherwise; {result['n']} patients at {result['steps']} Euler steps, scored "
        "against the training patients (`evaluate`) and, for the spread, against the unseen "
        "ones. `spread_ratio_median`: median over the numeric variables of (median within-stay "
        "sd, synthetic) / (the same, real); 1 is right.",
        "",
        *C.markdown_table(table),
    ]
    if result.get("note"):
        lines += ["", result["note"]]
    C.update_docs(NAME, "White or time-correlated diffusion noise", lines, docs)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
