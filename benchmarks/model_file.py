"""What a model file keeps of its training patients, and what an attacker gets from it.

On the headline split (3,000 training / 1,000 unseen patients of set a):

* **Size**: the default model fitted (one epoch: the size does not depend on training) on the
  first 300 and the first 3,000 training patients, saved and pickled.
* **Single patients' values in the encoders**: how many values the numeric encoders keep
  exactly that fewer than 5 training patients have, with ``min_patients_per_value`` 5 (the
  default) and 1 (every value kept, as model files did before they pooled).
* **Replay of the first stage**: 20,000 profiles drawn from the trees, and how many of them
  match a training patient on two or more of that patient's own means and sds (values no other
  training patient has), with both settings.
* **Membership audits** (`cdmtehr.evaluation.membership_inference`: density ratio, closeness,
  TPR at 1 % FPR): of the synthetic cohorts of the default model (``--model``) and of the
  single-stage model (``--single-stage-model``), both fitted with the same budget and seed;
  and of the first stage's own draws: a closeness attack on the profiles (standardized
  distance of each training or unseen patient to the nearest of as many drawn profiles).

Writes ``benchmarks/results/model_file.json`` and a section of docs/benchmarks.md.

    python benchmarks/physionet_cpu.py --save-model benchmarks/results/models/default_600s.cdmt
    python benchmarks/model_file.py --model benchmarks/results/models/default_600s.cdmt \\
        --single-stage-model benchmarks/results/models/single_600s.cdmt
"""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path

import _common as C
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from cdmtehr import CDMTSynthesizer
from cdmtehr.evaluation import membership_inference
from cdmtehr.preprocessing import SequencePreprocessor
from cdmtehr.profiles import draw_profiles, fit_profile_model, profile_table

NAME = "model_file"
ATTACKS = ["domias_auroc", "domias_tpr_at_1pct_fpr", "closeness_auroc",
           "closeness_tpr_at_1pct_fpr"]


def sizes(train, roles, counts=(300, 3000)) -> dict:
    """Bytes of `save` and of pickle for the default model fitted on the first `counts` patients."""
    ids = train[roles["id_col"]].drop_duplicates().to_numpy()
    # The same columns at every size: those that enough of the fewest patients measure.
    thin = C.thin_columns(train[train[roles["id_col"]].isin(ids[:min(counts)])], roles)
    roles = C.without_columns(roles, thin)
    out = {}
    for n in counts:
        part = train[train[roles["id_col"]].isin(ids[:n])].drop(columns=thin)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            synth = CDMTSynthesizer(epochs=1, max_time=None, random_state=0).fit(part, **roles)
        buffer = io.BytesIO()
        synth.save(buffer)
        out[n] = {"save_bytes": len(buffer.getvalue()), "pickle_bytes": len(pickle.dumps(synth))}
        print(f"  {n} patients: save {out[n]['save_bytes']:,} B, pickle "
              f"{out[n]['pickle_bytes']:,} B", flush=True)
    return out


def rare_encoder_values(pre, train, roles, fewer_than: int = 5) -> int:
    """Values that the numeric encoders of a fitted `SequencePreprocessor` keep exactly (the
    atoms of their quantile functions: two points of one value) and that only 1 to
    `fewer_than` - 1 training patients have. (A pooled mean can equal such a value by chance,
    as the mean of 101 and 103 is 102; it is not counted: it is no one's value.)"""
    patients = train[roles["id_col"]]
    found = 0
    for names, encoders, static in ((pre.numeric_names_, pre.numeric_encoders_, False),
                                    (pre.static_numeric_names_, pre.static_numeric_encoders_,
                                     True)):
        for name, encoder in zip(names, encoders):
            if name not in train or encoder.quantile_transformer_ is None:
                continue
            column = train.groupby(patients)[name].first() if static else train[name]
            owners = patients.groupby(patients).first() if static else patients
            held = pd.Series(np.asarray(owners)).groupby(np.asarray(column)).nunique()
            # The quantile function's distinct points are the knots, in the same order.
            _, twice = np.unique(encoder.quantile_transformer_.quantiles_[:, 0],
                                 return_counts=True)
            knots = np.asarray(encoder.knot_values_)
            kept = pd.Series(knots[twice >= 2] if len(twice) == len(knots) else knots)
            counts = kept.map(held).fillna(0)
            found += int(((counts > 0) & (counts < fewer_than)).sum())
    return found


def own_levels(table, n_counts) -> np.ndarray:
    """Per patient, its profile means and sds that no other patient has (NaN elsewhere)."""
    levels = table[:, 1 + n_counts:]
    own = np.full_like(levels, np.nan)
    for j in range(levels.shape[1]):
        column = np.round(levels[:, j], 6)
        values, counts = np.unique(column[np.isfinite(column)], return_counts=True)
        single = np.isin(column, values[counts == 1]) & (column != 0) & (np.abs(column) < 5.19)
        own[single, j] = levels[single, j]
    return own


def replay(profiles_model, layout, own, n_draws, seed) -> dict:
    """Drawn profiles that match a training patient on two or more of its own levels."""
    classes = np.resize(profiles_model.classes, n_draws)
    drawn = draw_profiles(profiles_model, classes, layout, torch.Generator().manual_seed(seed))
    levels = np.hstack([drawn.means.numpy(), drawn.sds.numpy()]).astype(np.float64)
    rebuilt = np.zeros(n_draws, dtype=bool)
    for start in range(0, n_draws, 2000):
        block = levels[start:start + 2000]
        matches = np.zeros((len(block), len(own)), dtype=np.int64)
        for j in range(own.shape[1]):
            matches += np.abs(block[:, j, None] - own[None, :, j]) <= 1e-6
        rebuilt[start:start + 2000] = matches.max(axis=1) >= 2
    return {"draws": n_draws, "draws_rebuilding_a_training_profile": int(rebuilt.sum())}


def profile_closeness(profiles_model, layout, train_table, test_table, seed) -> dict:
    """Closeness attack on the first stage's draws: AUROC and TPR at 1 % FPR of members."""
    n = min(len(train_table), len(test_table))
    rng = np.random.default_rng(seed)
    members = train_table[rng.choice(len(train_table), n, replace=False)]
    others = test_table[:n]
    classes = np.resize(profiles_model.classes, len(train_table))
    drawn = draw_profiles(profiles_model, classes, layout, torch.Generator().manual_seed(seed))
    synthetic = np.column_stack([drawn.lengths.numpy(), drawn.counts.numpy(),
                                 drawn.means.numpy(), drawn.sds.numpy()]).astype(np.float64)
    real = np.nan_to_num(np.vstack([members, others]))
    scale = real.std(axis=0) + 1e-9
    synthetic = synthetic / scale
    real = real / scale
    nearest = np.array([np.sqrt(((synthetic - row) ** 2).sum(axis=1)).min() for row in real])
    y = np.r_[np.ones(n), np.zeros(n)]
    threshold = np.quantile(nearest[n:], 0.01)
    return {"closeness_auroc": float(roc_auc_score(y, -nearest)),
            "closeness_tpr_at_1pct_fpr": float(np.mean(nearest[:n] <= threshold))}


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--single-stage-model", default=None, metavar="FILE",
                   help="the single-stage model (profile=False) fitted with the same budget "
                        "and seed; fitted here (and not saved) when not given")
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    train, test, roles = C.load_split(args.quick, args.seed)
    print("size of a model file against the training cohort", flush=True)
    size = sizes(train, roles, (20, 40) if args.quick else (300, 3000))

    default = C.default_model(args, train, roles, "default")
    cohort = default.preprocessor_.transform(train)
    table, _ = profile_table(cohort, default.layout_)
    test_table, _ = profile_table(default.preprocessor_.transform(test), default.layout_)
    n_counts = len(default.layout_.masked_values)
    own = own_levels(table, n_counts)
    n_draws = 2000 if args.quick else 20_000
    stages = {}
    for k in (default.min_patients_per_value, 1):
        print(f"first stage with min_patients_per_value={k}", flush=True)
        missing = tuple(e.has_missing_ for e in default.preprocessor_.categorical_encoders_)
        trees = fit_profile_model(cohort, default.layout_, categorical_missing=missing,
                                  random_state=args.seed, min_patients=k)
        encoders = SequencePreprocessor(min_patients_per_value=k).fit(train, roles)
        stages[k] = {
            "encoder_values_of_fewer_than_5_patients": rare_encoder_values(encoders, train,
                                                                           roles),
            **replay(trees, default.layout_, own, n_draws, args.seed),
            **profile_closeness(trees, default.layout_, table, test_table, args.seed),
        }
        print(f"  {stages[k]}", flush=True)

    if args.single_stage_model:
        single = CDMTSynthesizer.load(args.single_stage_model)
    else:
        params = C.model_params(args.quick)
        single = CDMTSynthesizer(max_time=args.max_time, epochs=params.pop("epochs", None),
                                 random_state=args.seed, profile=False, **params)
        print(f"[single stage] fitting for up to {args.max_time:g} s ...", flush=True)
        single.fit(train, **roles)
    audits = {}
    for label, synth in (("two stages (default)", default), ("single stage", single)):
        synthetic = synth.sample(args.n, random_state=args.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            audit = membership_inference(train, synthetic, test, **roles,
                                         random_state=args.seed)
        audits[label] = {k: float(audit.scores[k]) for k in ATTACKS}
        print(f"  {label}: {audits[label]}", flush=True)
    result = {"command": C.command(argv), "machine": C.machine(), "quick": args.quick,
              "sizes": size, "first_stage": stages, "membership": audits}
    path = C.save_result(NAME, result, args.quick, args.output)
    print(f"wrote {path}")
    if not args.quick and args.output is None:
        write_docs(result)
    return result


def write_docs(result, path=None):
    size = {int(k): v for k, v in result["sizes"].items()}
    small, large = sorted(size)
    stages = {int(k): v for k, v in result["first_stage"].items()}
    lines = [f"Command: `{result['command']}`.", "",
             f"| | {small:,} patients | {large:,} patients | ratio |", "|---|---|---|---|"]
    for key, label in (("save_bytes", "`save`, bytes"), ("pickle_bytes", "pickle, bytes")):
        lines.append(f"| {label} | {size[small][key]:,} | {size[large][key]:,} | "
                     f"{size[large][key] / size[small][key]:.2f} |")
    lines += ["", "| `min_patients_per_value` | encoder numbers that 1–4 patients have | "
              "drawn profiles rebuilding a training profile | closeness attack on the first "
              "stage: AUROC | TPR at 1 % FPR |", "|---|---|---|---|---|"]
    for k, row in sorted(stages.items(), reverse=True):
        lines.append(f"| {k} | {row['encoder_values_of_fewer_than_5_patients']:,} | "
                     f"{row['draws_rebuilding_a_training_profile']:,} of {row['draws']:,} | "
                     f"{row['closeness_auroc']:.3f} | {row['closeness_tpr_at_1pct_fpr']:.3f} |")
    lines += ["", "| model | density-ratio AUROC | TPR at 1 % FPR | closeness AUROC | "
              "TPR at 1 % FPR |", "|---|---|---|---|---|"]
    for label, row in result["membership"].items():
        lines.append(f"| {label} | " + " | ".join(f"{row[k]:.3f}" for k in ATTACKS) + " |")
    C.update_docs(NAME, "What a model file keeps, and what it gives away", lines, path)


if __name__ == "__main__":
    main()
