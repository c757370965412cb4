"""Ablation: how a two-stage model keeps its drawn profile, on one saved model.

The profile (stay length, measured steps per value, levels) is drawn first and the stay given
it; these choices act only when sampling, so every variant samples the same saved denoiser:

* *held from sigma <= h*: once the masks' noise is below h, the sampler's denoised states have
  the masks and validity flags that keep the drawn counts
  (``cdmtehr.profiles.conditioning.hold_profile``); the default h is
  ``cdmtehr.profiles.conditioning.HOLD_PROFILE_BELOW``. *Never held*: the counts are forced
  on the finished state only.
* *plain trees*: the profile trees without anchored or ordered columns
  (``cdmtehr.profiles.trees``: ``ANCHOR_SHARE = 0``, no orders); the trees are fitted again
  for each variant, from the training split, in seconds.

Each variant samples ``-n`` patients and is scored against the 1,000 unseen patients: the
summary and sequence discriminators, the sequence discriminator on the measurement masks alone
(which hours measure which values), mean KS and missing-rate error. Writes
``benchmarks/results/profile_decoding.json`` and the ``profile_decoding`` section of
docs/benchmarks.md.

    python benchmarks/profile_decoding.py --model benchmarks/results/models/default_600s.cdmt
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

import _common as C
from cdmtehr._fitting import fit_profile_stage
from cdmtehr.evaluation import evaluate
from cdmtehr.evaluation._frames import resolve_roles
from cdmtehr.evaluation._gru import gru_predict
from cdmtehr.evaluation.discriminative import sequence_inputs
from cdmtehr.evaluation.features import prepare_cohorts
from cdmtehr.profiles import conditioning, trees

NAME = "profile_decoding"
NEVER = float("-inf")


def variants(default_hold: float) -> list:
    """(label, hold level, plain trees) of every variant, the default first."""
    return [
        (f"held from sigma <= {default_hold:g}, anchored trees (default)", default_hold, False),
        ("never held, anchored trees", NEVER, False),
        ("held from sigma <= 1, anchored trees", 1.0, False),
        ("held from sigma <= 3, anchored trees", 3.0, False),
        (f"held from sigma <= {default_hold:g}, plain trees", default_hold, True),
        ("never held, plain trees", NEVER, True),
    ]


def masks_auroc(train, test, synthetic, roles, seed) -> float:
    """Out-of-fold AUROC of the sequence discriminator's GRU on the measurement masks alone."""
    keys = ("id_col", "time_col", "num_cols", "cat_cols", "static_cols", "condition_col")
    frames = {"real": test, "synthetic": synthetic}
    resolved = resolve_roles(frames, **{k: roles[k] for k in keys if k in roles})
    cohorts, _ = prepare_cohorts(frames, resolved, max_patients=2000, random_state=seed)
    real, fake = cohorts["real"], cohorts["synthetic"]
    max_length = int(real.lengths.max())
    n_values = len(resolved.temporal_num_cols)
    x_real, len_real = sequence_inputs(real, real, max_length)
    x_fake, len_fake = sequence_inputs(fake, real, max_length)
    n = min(len(x_real), len(x_fake))
    masks = slice(n_values, 2 * n_values)  # per step: values, then their 0/1 masks
    x = np.concatenate([x_real[:n, :, masks], x_fake[:n, :, masks]])
    lengths = np.concatenate([len_real[:n], len_fake[:n]])
    y = np.repeat([0, 1], n)
    proba = np.empty(len(y))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(y, y)
    for fold, (fit, held_out) in enumerate(folds):
        proba[held_out] = gru_predict(x[fit], lengths[fit], y[fit], x[held_out],
                                      lengths[held_out], seed=seed + fold)
    return float(roc_auc_score(y, proba))


def run_variant(synth, cohort, hold, plain, train, test, roles, args) -> dict:
    """Sample and score one variant (module settings restored afterwards)."""
    saved = conditioning.HOLD_PROFILE_BELOW, trees.ANCHOR_SHARE, trees.ORDER_SLACK
    try:
        conditioning.HOLD_PROFILE_BELOW = hold
        if plain:
            trees.ANCHOR_SHARE, trees.ORDER_SLACK = 0.0, -1.0
        synth.profile_model_ = fit_profile_stage(cohort, synth.layout_, synth.preprocessor_,
                                                     synth.random_state,
                                                 synth.min_patients_per_value)
        start = time.perf_counter()
        synthetic = synth.sample(args.n, steps=args.steps, sampler=args.sampler,
                                 random_state=args.seed)
        seconds = time.perf_counter() - start
    finally:
        conditioning.HOLD_PROFILE_BELOW, trees.ANCHOR_SHARE, trees.ORDER_SLACK = saved
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = evaluate(train, synthetic, test, **roles, random_state=args.seed,
                          metrics=("fidelity", "discriminative"))
    return {"summary_auroc": scores["disc_summary_auroc"],
            "sequence_auroc": scores["disc_sequence_auroc"],
            "masks_auroc": masks_auroc(train, test, synthetic, roles, args.seed),
            "ks_mean": scores["ks_mean"], "missing_rate_diff": scores["missing_rate_diff"],
            "ms_per_patient": 1000 * seconds / args.n}


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    C.add_sampling_arguments(p)
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    if args.quick:
        args.n, args.steps = C.QUICK["n"], 2

    train, test, roles = C.load_split(args.quick, args.seed)
    synth = C.default_model(args, train, roles, NAME)
    if not synth.profile:
        raise SystemExit("the model is single-stage (profile=False): it draws no profile")
    cohort = synth.preprocessor_.transform(train)
    rows = []
    for label, hold, plain in variants(conditioning.HOLD_PROFILE_BELOW):
        scores = run_variant(synth, cohort, hold, plain, train, test, roles, args)
        rows.append({"variant": label, **scores})
        print(f"{label}: {scores}", flush=True)
    table = pd.DataFrame(rows)
    C.print_table(table)
    result = {"command": C.command(), "machine": C.machine(), "quick": args.quick,
              "n": args.n, "steps": args.steps, "sampler": args.sampler,
              "model_file": args.model,
              "table": C.table_to_json(table)}
    path = C.save_result(NAME, result, args.quick, args.output)
    print(f"results: {path}")
    if not args.quick:
        write_docs(result)
    return result


def write_docs(result, docs=None):
    """Rewrite the profile_decoding section of docs/benchmarks.md."""
    table = C.table_from_json(result["table"])
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"One saved two-stage model, {result['n']} patients at {C.sampling_words(result)} "
        "per variant, scored against the 1,000 unseen patients. *masks_auroc*: the sequence "
        "discriminator's GRU on the measurement masks alone (which hours measure which "
        "values).",
        "",
        *C.markdown_table(table),
    ]
    C.update_docs(NAME, "How the drawn profile is kept (sampling-side ablation)", lines, docs)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
