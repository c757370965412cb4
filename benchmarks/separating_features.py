"""Diagnosis: which per-patient features tell synthetic patients from real ones.

The summary discriminator of ``cdmtehr.evaluation`` reads per-patient features (mean, sd, min,
max, last and missing share of each variable; statics; length; see
``cdmtehr.evaluation.patient_features``). This script samples `-n` patients from a model saved
by ``physionet_cpu.py --save-model`` and ranks the features by how well each one alone
separates the synthetic patients from the 1,000 unseen real ones (univariate AUROC, folded so
that 0.5 is no separation and 1.0 perfect), with both medians; then compares the within-stay
standard deviation of each variable (median over patients). Two more tables say where the
gradient-boosting discriminator finds its signal: its AUROC (5-fold) on each group of
features alone and on all features but that group; and, per variable, the measurement
schedule (the share of patients who never have it measured, and the spread over patients of
the share of hours that do). Writes
``benchmarks/results/separating_features.json`` and the ``separating_features`` section of
docs/benchmarks.md.

    python benchmarks/separating_features.py --model benchmarks/results/models/default_600s.cdmt
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

import _common as C
from cdmtehr.evaluation._boosting import boosting_predict

NAME = "separating_features"


def univariate_auroc(real: pd.DataFrame, synthetic: pd.DataFrame, min_patients: int = 20):
    """One row per feature: folded AUROC of the feature alone, medians, patients with a value."""
    rows = []
    for col in real.columns.intersection(synthetic.columns):
        a = real[col].to_numpy(float)
        b = synthetic[col].to_numpy(float)
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) < min_patients or len(b) < min_patients:
            continue
        labels = np.r_[np.zeros(len(a)), np.ones(len(b))]
        auroc = roc_auc_score(labels, np.r_[a, b])
        rows.append([col, 0.5 + abs(auroc - 0.5), float(np.median(a)), float(np.median(b)),
                     len(a), len(b)])
    columns = ["feature", "auroc_alone", "real_median", "synthetic_median", "real_patients",
               "synthetic_patients"]
    return pd.DataFrame(rows, columns=columns).sort_values("auroc_alone", ascending=False)


GROUPS = {"mean": "__mean", "sd": "__std", "min": "__min", "max": "__max", "last": "__last",
          "measured share": "__missing"}


def cross_validated_auroc(x: np.ndarray, y: np.ndarray, seed: int, folds: int = 5) -> float:
    """AUROC of the summary discriminator's gradient boosting, out of fold."""
    from sklearn.model_selection import StratifiedKFold

    proba = np.empty(len(y))
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y)
    for train, test in splits:
        proba[test] = boosting_predict(x[train], y[train], x[test], seed=seed)[:, 1]
    return float(roc_auc_score(y, proba))


def feature_groups(real: pd.DataFrame, synthetic: pd.DataFrame, seed: int) -> pd.DataFrame:
    """AUROC of each group of summary features alone and of all features without it."""
    columns = real.columns.intersection(synthetic.columns)
    x = pd.concat([real[columns], synthetic[columns]]).to_numpy(float)
    y = np.r_[np.zeros(len(real)), np.ones(len(synthetic))]
    names = np.asarray(columns)
    masks = {group: np.char.endswith(names.astype(str), suffix)
             for group, suffix in GROUPS.items()}
    masks["statics and length"] = ~np.any(list(masks.values()), axis=0)
    rows = [["all", len(names), cross_validated_auroc(x, y, seed), np.nan]]
    for group, mask in masks.items():
        rows.append([group, int(mask.sum()), cross_validated_auroc(x[:, mask], y, seed),
                     cross_validated_auroc(x[:, ~mask], y, seed)])
    return pd.DataFrame(rows, columns=["features", "count", "auroc_alone", "auroc_without"])


def measurement_schedule(real: pd.DataFrame, synthetic: pd.DataFrame, num_cols) -> pd.DataFrame:
    """Per variable: share of patients never measured and sd of the measured share of hours."""
    rows = []
    for col in num_cols:
        measured_real = 1 - real[f"{col}__missing"]
        measured_synthetic = 1 - synthetic[f"{col}__missing"]
        real_sd, synthetic_sd = float(measured_real.std()), float(measured_synthetic.std())
        rows.append([col, float((measured_real == 0).mean()),
                     float((measured_synthetic == 0).mean()), real_sd, synthetic_sd,
                     synthetic_sd / real_sd if real_sd > 0 else np.nan])
    columns = ["variable", "never_real", "never_synthetic", "share_sd_real",
               "share_sd_synthetic", "sd_ratio"]
    table = pd.DataFrame(rows, columns=columns)
    gap = (table["never_real"] - table["never_synthetic"]).abs()
    return table.loc[gap.sort_values(ascending=False).index]


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--top", type=int, default=15)
    C.add_sampling_arguments(p)
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    if args.quick:
        args.n, args.steps = C.QUICK["n"], 2

    train, test, roles = C.load_split(args.quick, args.seed)
    synth = C.default_model(args, train, roles, NAME)
    start = time.perf_counter()
    synthetic = synth.sample(args.n, steps=args.steps, sampler=args.sampler,
                             random_state=args.seed)
    seconds = time.perf_counter() - start
    real_features, synthetic_features = C.patient_feature_frames(test, synthetic, roles)
    ranking = univariate_auroc(real_features, synthetic_features)
    spread = C.within_stay_spread(real_features, synthetic_features, roles["num_cols"])
    spread = spread.sort_values("ratio", ascending=False)
    groups = feature_groups(real_features, synthetic_features, args.seed)
    schedule = measurement_schedule(real_features, synthetic_features, roles["num_cols"])

    top = ranking.head(args.top)
    print(f"sampled {args.n} patients in {seconds:.1f} s")
    C.print_table(top)
    C.print_table(spread)
    C.print_table(groups)
    C.print_table(schedule.head(args.top))
    result = {
        "command": C.command(),
        "machine": C.machine(),
        "quick": args.quick,
        "n": args.n,
        "steps": args.steps,
        "sampler": args.sampler,
        "model_file": args.model,
        "tables": {"ranking": C.table_to_json(top), "spread": C.table_to_json(spread),
                   "groups": C.table_to_json(groups),
                   "schedule": C.table_to_json(schedule.head(args.top))},
    }
    path = C.save_result(NAME, result, args.quick, args.output)
    print(f"results: {path}")
    if not args.quick:
        write_docs(result)
    return result


def write_docs(result, docs=None):
    """Rewrite the separating_features section of docs/benchmarks.md."""
    ranking = C.table_from_json(result["tables"]["ranking"])
    spread = C.table_from_json(result["tables"]["spread"])
    groups = C.table_from_json(result["tables"]["groups"])
    schedule = C.table_from_json(result["tables"]["schedule"])
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"{result['n']} patients sampled at {C.sampling_words(result)} from the default model, "
        "against the 1,000 unseen real patients. Each feature alone (folded AUROC: 0.5 = no "
        "separation):",
        "",
        *C.markdown_table(ranking),
        "",
        "Within-stay standard deviation of each variable (median over patients with two or "
        "more values), synthetic against real:",
        "",
        *C.markdown_table(spread),
        "",
        "The summary discriminator (gradient boosting, 5-fold) on each group of features "
        "alone, and on all features without it:",
        "",
        *C.markdown_table(groups),
        "",
        "Measurement schedule: the share of patients who never have a variable measured, and "
        "the standard deviation over patients of the share of hours that do (the variables "
        "with the largest never-measured gap):",
        "",
        *C.markdown_table(schedule),
    ]
    C.update_docs(NAME, "What separates synthetic from real patients", lines, docs)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
