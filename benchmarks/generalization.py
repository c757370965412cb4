"""Generalization: the default model on a second cohort and on stays of variable length.

The default ``CDMTSynthesizer``, unchanged (no setting depends on the cohort), fitted and
scored like the headline benchmark (physionet_cpu.py) on one of two cohorts:

* ``--cohort setb``: PhysioNet 2012 set b (bundled, 4,000 patients none of whom is in set a),
  split by patient into 3,000 training and 1,000 unseen patients with `--seed`;
* ``--cohort variable``: set a with the headline's 3,000 / 1,000 split, every stay cut after a
  random number of hours (per patient, uniform over 12..48 hours kept, drawn from `--seed`;
  the later rows are dropped), so the stays have variable length.

The model trains for `--max-time` seconds (or `--epochs` passes), samples `-n` patients at
`sample`'s defaults (``--steps``/``--sampler`` choose others), and is scored with
``cdmtehr.evaluation.evaluate`` (fidelity and discriminators against the training patients,
utility and privacy against the unseen ones) next to the real-vs-real floor of ``real_vs_real``. Both cohorts also report the length
distribution of the unseen real stays against the synthetic ones: the two-sample KS statistic
of the lengths (next to the KS between training and unseen real stays, the floor), their
means and their 10/50/90 % quantiles.

Writes ``benchmarks/results/generalization_<cohort>.json`` and the
``generalization_<cohort>`` section of docs/benchmarks.md.

    python benchmarks/generalization.py --cohort setb --max-time 600
    python benchmarks/generalization.py --cohort variable --max-time 600
    python benchmarks/generalization.py --cohort variable --quick
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import _common as C
import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from cdmtehr import CDMTSynthesizer
from cdmtehr.evaluation import evaluate, real_vs_real

NAME = "generalization"
COHORTS = {
    "setb": "PhysioNet 2012 set b",
    "variable": "PhysioNet 2012 set a, stays cut at a random hour (12 to 48 hours kept)",
}
MIN_HOURS, MAX_HOURS = 12, 48
QUANTILES = (0.1, 0.5, 0.9)
# The headline's yardstick: the three discriminators, fidelity, the gaps between measurements,
# utility and privacy.
YARDSTICK = ["disc_summary_auroc", "disc_sequence_auroc", "disc_sequence_masks_auroc",
             "ks_mean", "missing_rate_diff", "care_gap_ks_median", "tstr_trtr_auroc_ratio",
             "dcr_ratio"]
# 40 quick patients are one batch, so an epoch is one optimizer step; a single step leaves
# every synthetic stay at the longest length, and a quick run should show lengths that vary.
QUICK_EPOCHS = 200


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohort", choices=sorted(COHORTS),
                   help="setb: set b split 3,000 / 1,000; variable: set a, stays cut at "
                        "random hours (required, except with --docs-from)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: %d/%d patients, epochs=%d, hidden_size=%d, 3 steps; "
                        "writes to benchmarks/results/quick/, never to docs"
                        % (C.QUICK["n_train"], C.QUICK["n_test"], QUICK_EPOCHS,
                           C.QUICK["hidden_size"]))
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--max-time", type=float, default=600.0,
                        help="training budget in seconds (default %(default)s)")
    budget.add_argument("--epochs", type=int, default=None,
                        help="training budget in passes instead of seconds (no time limit)")
    p.add_argument("--seed", type=int, default=0,
                   help="the split, the cut hours, the model and the samples")
    p.add_argument("-n", type=int, default=1000, help="synthetic patients scored")
    C.add_sampling_arguments(p)
    p.add_argument("--output", default=None,
                   help="JSON path (default benchmarks/results/generalization_<cohort>.json)")
    p.add_argument("--save-model", default=None, metavar="FILE",
                   help="write the fitted model here (CDMTSynthesizer.save)")
    p.add_argument("--docs-from", default=None, metavar="JSON",
                   help="only rewrite the cohort's section of docs/benchmarks.md from a "
                        "results file of a full run, then exit")
    args = p.parse_args(argv)
    if args.cohort is None and args.docs_from is None:
        p.error("the following arguments are required: --cohort")
    return args


def cut_stays(seed):
    """A `load_split` `prepare` step: keep the first 12..48 hours of each stay, drawn per patient.

    The hours are drawn for every patient of the set in id order, before the split, so a
    patient's cut is the same in a quick and a full run.
    """

    def prepare(df, roles):
        id_col, time_col = roles["id_col"], roles["time_col"]
        ids = np.sort(df[id_col].unique())
        kept = np.random.default_rng(seed).integers(MIN_HOURS, MAX_HOURS + 1, size=len(ids))
        hours_kept = df[id_col].map(pd.Series(kept, index=ids))
        # Rank of the row within its stay, not the hour's value: the cut keeps that many rows.
        position = df.sort_values([id_col, time_col]).groupby(id_col).cumcount()
        return df[position.reindex(df.index) < hours_kept].reset_index(drop=True)

    return prepare


def stay_lengths(frame, id_col) -> np.ndarray:
    """Rows (hours) per patient."""
    return frame.groupby(id_col).size().to_numpy()


def length_summary(lengths) -> dict:
    """Patients, mean and the 10/50/90 % quantiles of stay lengths."""
    q = np.quantile(lengths, QUANTILES)
    return {"patients": int(len(lengths)), "mean": float(np.mean(lengths)),
            "min": int(np.min(lengths)), "max": int(np.max(lengths)),
            **{f"q{round(100 * p)}": float(v) for p, v in zip(QUANTILES, q, strict=True)}}


def length_comparison(train, test, synthetic, id_col) -> dict:
    """Length distribution of unseen real vs synthetic stays (KS), training vs unseen (floor)."""
    real, fake, seen = (stay_lengths(f, id_col) for f in (test, synthetic, train))
    return {
        "real_test": length_summary(real),
        "synthetic": length_summary(fake),
        "real_train": length_summary(seen),
        "ks": float(ks_2samp(real, fake).statistic),
        "ks_floor_train_vs_test": float(ks_2samp(seen, real).statistic),
    }


def training_budget(args) -> dict:
    """``epochs`` and ``max_time`` of the fit; training stops at whichever comes first."""
    if args.epochs is not None:  # passes alone: the same training whatever the machine's load
        return {"epochs": args.epochs, "max_time": None}
    return {"epochs": QUICK_EPOCHS if args.quick else None, "max_time": args.max_time}


def budget_text(budget) -> str:
    parts = [] if budget["epochs"] is None else [f"{budget['epochs']} epochs"]
    return " or ".join(parts + ([] if budget["max_time"] is None
                                else [f"{budget['max_time']:g} s"]))


def fit(args, train, roles):
    params = C.model_params(args.quick)
    params.pop("epochs", None)
    budget = training_budget(args)
    synth = CDMTSynthesizer(**budget, random_state=args.seed, **params)
    print(f"[{NAME}, {args.cohort}] fitting on {train[roles['id_col']].nunique()} patients "
          f"for {budget_text(budget)} ...", flush=True)
    synth.fit(train, **roles)
    if args.save_model:
        Path(args.save_model).parent.mkdir(parents=True, exist_ok=True)
        synth.save(args.save_model)
    return synth


def main(argv=None):
    args = parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    if args.quick:
        args.n, args.steps = C.QUICK["n"], 3

    part = "b" if args.cohort == "setb" else "a"
    prepare = cut_stays(args.seed) if args.cohort == "variable" else None
    train, test, roles = C.load_split(args.quick, args.seed, part=part, prepare=prepare)
    id_col = roles["id_col"]

    synth = fit(args, train, roles)
    start = time.perf_counter()
    synthetic = synth.sample(args.n, steps=args.steps, sampler=args.sampler,
                             random_state=args.seed)
    sample_seconds = time.perf_counter() - start

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = C.numbers_only(evaluate(train, synthetic, test, **roles,
                                         random_state=args.seed))
        floor = C.numbers_only(real_vs_real(pd.concat([train, test]), **roles,
                                            random_state=args.seed))
    lengths = length_comparison(train, test, synthetic, id_col)

    score_table = yardstick_table(scores, floor)
    length_rows = [(label, lengths[key]) for label, key in
                   (("real, unseen", "real_test"), ("synthetic", "synthetic"),
                    ("real, training", "real_train"))]
    length_table = pd.DataFrame(
        [[label, s["patients"], s["mean"], s["q10"], s["q50"], s["q90"]]
         for label, s in length_rows],
        columns=["stays", "patients", "mean_hours", "q10", "q50", "q90"])

    result = {
        "command": C.command(),
        "quick": args.quick,
        "machine": C.machine(),
        "cohort": args.cohort,
        "cohort_description": COHORTS[args.cohort],
        "budget": training_budget(args),
        "seed": args.seed,
        "n_train": int(train[id_col].nunique()),
        "n_test": int(test[id_col].nunique()),
        "n_synthetic": args.n,
        "steps": args.steps,
        "sampler": args.sampler,
        "training": C.training_summary(synth.history_, synth.batch_size, synth.n_patients_,
                                       synth.fit_seconds_),
        "sampling_ms_per_patient": 1000 * sample_seconds / args.n,
        "scores": scores,
        "real_vs_real": floor,
        "lengths": lengths,
        "peak_rss_mb": C.peak_rss_mb(),
        "tables": {"scores": C.table_to_json(score_table),
                   "lengths": C.table_to_json(length_table)},
    }
    path = C.save_result(f"{NAME}_{args.cohort}", result, args.quick, args.output)
    t = result["training"]
    print(f"\n{COHORTS[args.cohort]}: {result['n_train']} training / {result['n_test']} "
          f"unseen patients, {args.n} synthetic at {args.steps} steps; {t['epochs']} epochs, "
          f"{t['optimizer_steps']} optimizer steps in {t['train_loop_seconds']:.0f} s")
    C.print_table(score_table)
    print(f"\nStay lengths (hours): KS unseen real vs synthetic {lengths['ks']:.3f} "
          f"(training vs unseen real: {lengths['ks_floor_train_vs_test']:.3f})")
    C.print_table(length_table, digits=1)
    print(f"results: {path}")
    if not args.quick:
        write_docs(result)
    return result


def yardstick_table(scores, floor):
    """The headline's yardstick for this cohort, beside its real-vs-real floor."""
    return pd.DataFrame([["cdmtehr", *[scores.get(k) for k in YARDSTICK]],
                         ["real vs real (floor)", *[floor.get(k) for k in YARDSTICK]]],
                        columns=["scores", *YARDSTICK])


def write_docs(result, docs=None):
    """Rewrite the cohort's section of docs/benchmarks.md from a result dict."""
    cohort = result["cohort"]
    score_table = C.table_from_json(result["tables"]["scores"])
    if "disc_sequence_masks_auroc" in result["scores"]:  # results that have the yardstick
        score_table = yardstick_table(result["scores"], result["real_vs_real"])
    length_table = C.table_from_json(result["tables"]["lengths"])
    t, lengths = result["training"], result["lengths"]
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"{result['cohort_description']}: the default model, fitted for "
        f"{budget_text(result['budget'])} ({t['epochs']} epochs, {t['optimizer_steps']} "
        f"optimizer steps) on {result['n_train']} patients, samples {result['n_synthetic']} at "
        f"{C.sampling_words(result)}; scores against {result['n_test']} unseen patients.",
        "",
        *C.markdown_table(score_table),
        "",
        f"Stay lengths in hours: KS between unseen real and synthetic stays "
        f"{lengths['ks']:.3f} (between training and unseen real stays: "
        f"{lengths['ks_floor_train_vs_test']:.3f}).",
        "",
        *C.markdown_table(length_table, digits=1),
    ]
    title = {"setb": "Generalization: PhysioNet 2012 set b",
             "variable": "Generalization: stays of variable length"}[cohort]
    C.update_docs(f"{NAME}_{cohort}", title, lines, docs)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
