"""Headline benchmark: default CDMTSynthesizer on PhysioNet 2012 set a with a CPU time budget.

3,000 training / 1,000 unseen test patients (split by patient), fit with ``max_time`` seconds
(600 by default), sample 1,000 patients at `sample`'s default settings (8 steps of
DPM-Solver++(2M); ``--steps``/``--sampler`` choose others), score against the unseen patients
with ``cdmtehr.evaluation``, and check conditional sampling with a mortality model trained on
real data. Prints a table and writes ``benchmarks/results/physionet_cpu.json``; the table in
``docs/benchmarks.md`` is regenerated from it. Another ``--output`` file has its own section
of docs/benchmarks.md, named after the file (the one-hour protocol below). ``--model FILE``
re-scores a model saved by ``--save-model`` (its training figures come from the file), so a
change of sampling or decoding can be measured without training again.

    python benchmarks/physionet_cpu.py --max-time 600
    python benchmarks/physionet_cpu.py --max-time 3600 --output benchmarks/results/physionet_cpu_1h.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingClassifier

import _common

from cdmtehr import CDMTSynthesizer
from cdmtehr._fitting import fit_profile_stage
from cdmtehr.datasets import load_physionet2012
from cdmtehr.evaluation import evaluate, patient_features, real_vs_real
from cdmtehr.profiles.charting import CHARTING_SHARE
from cdmtehr.sampling.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS

RESULTS = Path(__file__).parent / "results"
DOCS = Path(__file__).parent.parent / "docs" / "benchmarks.md"
HEADLINE = "physionet_cpu"
# The scores whose spread over repeated samples the headline reports.
DISCRIMINATORS = ("disc_summary_auroc", "disc_sequence_auroc", "disc_sequence_masks_auroc",
                  "disc_sequence_values_auroc")


def markers(name):
    """The comments around a result's section of docs/benchmarks.md."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"

TARGETS = [
    # key, label, bound, direction, target
    ("disc_summary_auroc", "real-vs-synthetic AUROC (summaries)", 0.80, "<=",
     "<= 0.80 (one hour: 0.70)"),
    ("disc_sequence_auroc", "real-vs-synthetic AUROC (GRU on values and masks)", 0.75, "<=",
     "<= 0.75 (one hour: 0.70)"),
    ("disc_sequence_masks_auroc", "real-vs-synthetic AUROC (GRU on masks alone)", 0.75, "<=",
     "<= 0.75 (one hour: 0.70)"),
    ("disc_sequence_values_auroc", "real-vs-synthetic AUROC (GRU on values alone)", None, None,
     ""),
    ("care_patterns_ratio", "distinct co-measurement patterns / real", None, None,
     "within 15 % of the real count"),
    ("care_unseen_pattern_share", "share of hours in patterns the real cohort lacks", None,
     None, "<= 1.5x the floor"),
    ("care_gap_ks_median", "median per-variable KS of the gaps between measurements", 0.08,
     "<=", "<= 0.08"),
    ("ks_mean", "mean per-variable KS", 0.08, "<=", "<= 0.08"),
    ("missing_rate_diff", "mean missing-rate error", 0.03, "<=", "<= 0.03"),
    ("tstr_trtr_auroc_ratio", "TSTR / TRTR mortality AUROC", 0.85, ">=", ">= 0.85"),
    ("dcr_ratio", "DCR synthetic / DCR unseen real", 0.8, ">=", ">= 0.8"),
    ("ms_per_patient", "sampling ms / patient", 10.0, "<=", "<= 10"),
]


def split_by_patient(df, id_col, n_train, seed):
    ids = df[id_col].drop_duplicates().sample(frac=1.0, random_state=seed).to_numpy()
    train = df[df[id_col].isin(ids[:n_train])].reset_index(drop=True)
    test = df[df[id_col].isin(ids[n_train:])].reset_index(drop=True)
    return train, test


def mortality_risk(train, synthetic, roles):
    """Mean risk that a mortality model fitted on real patients gives synthetic patients."""
    kwargs = {k: roles[k] for k in ("id_col", "time_col", "num_cols", "cat_cols", "static_cols")}
    features_real = patient_features(train, **kwargs)
    features_syn = patient_features(synthetic, **kwargs).reindex(columns=features_real.columns)
    label = roles["condition_col"]
    y = train.groupby(roles["id_col"], sort=True)[label].first().loc[features_real.index]
    model = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(features_real, y)
    risk = model.predict_proba(features_syn)[:, 1]
    cls = synthetic.groupby(roles["id_col"], sort=True)[label].first().loc[features_syn.index]
    return {int(c): float(risk[cls.to_numpy() == c].mean()) for c in sorted(cls.unique())}


def repeated_scores(synth, train, test, roles, args, first):
    """The discriminators' scores of `args.repeats` samples: per sample, their mean and sd.

    Sample k is drawn with seed ``args.seed + 2 k`` (``args.seed + 1`` draws the conditional
    cohort) and scored with the same seed, so that both the synthetic patients and the
    discriminators' splits and initialisations change: the spread is what one score can
    move between two runs of the same model. The first sample is the headline's.
    """
    samples = [{key: first[key] for key in DISCRIMINATORS if key in first}]
    for k in range(1, max(args.repeats, 1)):
        seed = args.seed + 2 * k
        synthetic = synth.sample(args.n, steps=args.steps, sampler=args.sampler,
                                 random_state=seed)
        scores = evaluate(train, synthetic, test, **roles, metrics=("discriminative",),
                          random_state=seed)
        samples.append({key: scores[key] for key in DISCRIMINATORS if key in scores})
    keys = [key for key in DISCRIMINATORS if all(key in sample for sample in samples)]
    values = {key: np.array([sample[key] for sample in samples]) for key in keys}
    return {
        "seeds": [args.seed + 2 * k for k in range(len(samples))],
        "samples": samples,
        "mean": {key: float(v.mean()) for key, v in values.items()},
        "sd": {key: float(v.std(ddof=1)) if len(v) > 1 else None for key, v in values.items()},
    }


def spread_text(result, key) -> str:
    """'mean ± sd' of a score over the result's repeated samples ('' where not repeated)."""
    repeats = result.get("repeats") or {}
    mean, sd = repeats.get("mean", {}).get(key), repeats.get("sd", {}).get(key)
    if mean is None or sd is None:
        return ""
    return f"{mean:.3f} ± {sd:.3f}"


def target_table(result):
    """The headline scores of a result next to the real-vs-real floor and the targets."""
    rows = []
    sampling = result.get("sampling", {})
    for key, label, bound, direction, target in TARGETS:
        if key == "ms_per_patient":  # results before the sampler was recorded used Euler's
            label += f" ({sampling.get('steps')} {sampling.get('sampler', 'euler')} steps)"
        value = result["scores"].get(key)
        floor_value = result["real_vs_real"].get(key)
        ok = ""
        if bound is not None and value is not None:
            ok = "yes" if (value <= bound if direction == "<=" else value >= bound) else "NO"
        rows.append((label, value, spread_text(result, key), floor_value, target, ok))
    return pd.DataFrame(rows, columns=["metric", "cdmtehr", "mean ± sd", "real vs real",
                                       "target", "met"])


def write_markdown(result, table=None, path=DOCS, name=HEADLINE):
    """Replace the `name` section of docs/benchmarks.md with this run's figures."""
    START, END = markers(name)
    table = target_table(result) if table is None else table
    m, t, smp = result["machine"], result["training"], result["sampling"]
    risks = result["conditional_mean_risk"]
    lines = [
        START,
        f"Command: `{result['command']}` — machine: {m['cpus']} CPU cores "
        f"({m['processor']}), torch {m['torch']} with {_common.thread_words(m['torch_threads'])}.",
        "",
    ]
    repeats = result.get("repeats") or {}
    n_repeats = len(repeats.get("samples", []))
    spread = n_repeats > 1
    lines += (["| metric | cdmtehr | mean ± sd over samples | real vs real (floor) | target "
               "| met |", "|---|---|---|---|---|---|"] if spread else
              ["| metric | cdmtehr | real vs real (floor) | target | met |",
               "|---|---|---|---|---|"])
    for row in table.itertuples(index=False):
        fmt = lambda v: "–" if v is None or v != v else f"{v:.3f}"  # noqa: E731
        middle = f" {row[2] or '–'} |" if spread else ""
        lines.append(f"| {row.metric} | {fmt(row.cdmtehr)} |{middle} {fmt(row[3])} "
                     f"| {row.target} | {row.met} |")
    lines += [
        "",
        f"* Training: {t['seconds']:.0f} s, {t['epochs']} epochs, {t['optimizer_steps']} optimizer "
        f"steps, {t['patients_per_second']:.0f} patients/s; model: hidden size "
        f"{result['model']['hidden_size']}, {result['model']['num_layers']} BiGRU layer"
        f"{'s' if result['model']['num_layers'] != 1 else ''}, "
        f"{result['model']['parameters']:,} parameters, batch {result['model']['batch_size']}"
        + (f"; charting model: {result['model']['charting_epochs']} epochs."
           if result['model'].get("charting_epochs") else "."),
        f"* Sampling: {smp['patients']} patients × {smp['steps']} "
        f"{smp.get('sampler', 'euler')} steps in "
        f"{smp['seconds']:.1f} s = {smp['ms_per_patient']:.1f} ms per patient "
        f"(chunks of {result['model']['sample_batch_size']}).",
        f"* Conditional sampling: a mortality model trained on real patients gives synthetic "
        f"`condition=1` patients a mean risk of {risks.get('1', risks.get(1, float('nan'))):.3f} "
        f"and `condition=0` patients {risks.get('0', risks.get(0, float('nan'))):.3f}.",
        *([f"* *mean ± sd over samples*: the discriminators' scores of {n_repeats} samples of "
            f"{smp['patients']} patients from the same model (seeds "
            f"{', '.join(str(seed) for seed in repeats['seeds'])}, each scored with its own "
            "discriminator seed); *cdmtehr* is the first of them, the one the targets judge."]
          if spread else []),
        f"* Peak memory (RSS): {result['peak_rss_mb']:.0f} MB.",
        END,
    ]
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + "\n".join(lines) + rest.split(END, 1)[1]
    else:
        budget = result["training"].get("budget_seconds", 600.0)
        title = f"Default model on PhysioNet 2012, {budget:.0f}-s budget"
        text = text.rstrip() + f"\n\n## {title}\n\n" + "\n".join(lines) + "\n"
    path.write_text(text)


# Environment variables that change timings; a recorded command names those that were set.
TIMING_ENVIRONMENT = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def command_line(argv) -> str:
    """The command that ran a benchmark script, with the timing-relevant environment."""
    import shlex

    script = os.path.relpath(os.path.abspath(argv[0]), Path(__file__).resolve().parent.parent)
    env = [f"{k}={os.environ[k]}" for k in TIMING_ENVIRONMENT if k in os.environ]
    return " ".join([*env, "python", script, *map(shlex.quote, argv[1:])])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-time", type=float, default=600.0)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("-n", type=int, default=1000)
    # `sample`'s own defaults: the headline measures what a user gets.
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help="sampler steps (default: sample's, %(default)s)")
    parser.add_argument("--sampler", default=DEFAULT_SAMPLER,
                        help="sampler (default: sample's, %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None,
                        help="JSON path (default benchmarks/results/physionet_cpu.json)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 40/20 patients, epochs=1, hidden_size=8, 20 patients "
                             "at 2 steps; writes benchmarks/results/quick/, never the docs")
    parser.add_argument("--save-model", default=None, metavar="FILE",
                        help="write the fitted model here; the other benchmark scripts "
                             "reuse it with --model FILE")
    parser.add_argument("--model", default=None, metavar="FILE",
                        help="score this saved model (fitted on the same split) instead of "
                             "training one")
    parser.add_argument("--refit-profiles", action="store_true",
                        help="with --model: fit the first stage (the profile trees and the "
                             "charting model, in its share of the model's max_time) again "
                             "with this version's code, keeping the saved denoiser")
    parser.add_argument("--repeats", type=int, default=4,
                        help="samples drawn with seeds seed, seed + 2, ... (each scored with "
                             "its own discriminator seed): the discriminators' mean and sd "
                             "over them stand beside the first sample's scores (default "
                             "%(default)s; 1: the first alone)")
    parser.add_argument("--docs-from", default=None, metavar="JSON",
                        help="only rewrite this result's section of docs/benchmarks.md from a "
                             "results file, then exit")
    args = parser.parse_args(argv)
    if args.docs_from:
        result = json.loads(Path(args.docs_from).read_text())
        write_markdown(result, name=Path(args.docs_from).stem)
        return result

    if args.quick:
        train, test, roles = _common.load_split(True, args.seed)
        args.n, args.steps = 20, 2
        args.repeats = min(args.repeats, 2)
        default_output = _common.QUICK_RESULTS / "physionet_cpu.json"
    else:
        df, roles = load_physionet2012(return_roles=True)
        train, test = split_by_patient(df, roles["id_col"], 3000, args.seed)
        default_output = RESULTS / "physionet_cpu.json"
    args.output = args.output or str(default_output)

    if args.model:
        synth = CDMTSynthesizer.load(args.model)
        if args.refit_profiles and synth.profile:
            cohort = synth.preprocessor_.transform(train)
            seconds = None if synth.max_time is None else CHARTING_SHARE * synth.max_time
            synth.profile_model_ = fit_profile_stage(cohort, synth.layout_, synth.preprocessor_,
                                                     synth.random_state,
                                                     synth.min_patients_per_value, seconds)
    else:
        quick = {"epochs": 1, "hidden_size": 8} if args.quick else {}
        synth = CDMTSynthesizer(max_time=args.max_time,
                                epochs=quick.pop("epochs", args.epochs or 10_000),
                                random_state=args.seed, verbose=True, **quick)
        synth.fit(train, **roles)
    if args.save_model:
        Path(args.save_model).parent.mkdir(parents=True, exist_ok=True)
        synth.save(args.save_model)
    history = synth.get_loss_values()
    steps = int(history["steps"].iloc[-1])
    trained_patients = steps * synth.batch_size

    start = time.perf_counter()
    synthetic = synth.sample(args.n, steps=args.steps, sampler=args.sampler,
                             random_state=args.seed)
    sample_seconds = time.perf_counter() - start

    scores = evaluate(train, synthetic, test, **roles, random_state=args.seed)
    floor = real_vs_real(pd.concat([train, test]), **roles, random_state=args.seed)
    repeats = repeated_scores(synth, train, test, roles, args, scores)

    half = args.n // 2
    conditional = synth.sample(args.n, condition={0: half, 1: args.n - half},
                               steps=args.steps, sampler=args.sampler,
                               random_state=args.seed + 1)
    risks = mortality_risk(train, conditional, roles)

    n_params = sum(p.numel() for p in synth.model_.parameters())
    charting = getattr(getattr(synth, "profile_model_", None), "charting", None)
    result = {
        "command": command_line([__file__, *(sys.argv[1:] if argv is None else argv)]),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "model": {
            "hidden_size": synth.hidden_size,
            "num_layers": synth.num_layers,
            "batch_size": synth.batch_size,
            "sample_batch_size": synth.sample_batch_size,
            "parameters": n_params,
            "schedule": synth.schedule,
            "charting_epochs": None if charting is None else charting.epochs,
        },
        "training": {
            "budget_seconds": float(synth.max_time or float("nan")),
            "seconds": float(synth.fit_seconds_),
            "epochs": int(history["epoch"].iloc[-1]),
            "optimizer_steps": steps,
            "patients_per_second": trained_patients / float(history["seconds"].iloc[-1]),
            "final_loss": float(history["diffusion"].iloc[-1]),
        },
        "sampling": {
            "patients": args.n,
            "steps": args.steps,
            "sampler": args.sampler,
            "seconds": sample_seconds,
            "ms_per_patient": 1000 * sample_seconds / args.n,
        },
        "scores": {k: v for k, v in scores.items() if isinstance(v, (int, float))},
        "real_vs_real": {k: v for k, v in floor.items() if isinstance(v, (int, float))},
        "repeats": repeats,
        "conditional_mean_risk": risks,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "quick": args.quick,
    }
    result["scores"]["ms_per_patient"] = result["sampling"]["ms_per_patient"]
    _common.stamp(result)  # the commit and date of the run, as every other script's results
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2))

    table = target_table(result)
    if not args.quick:
        write_markdown(result, table, name=Path(args.output).stem)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))  # noqa: T201
    print(f"mean real-model mortality risk: condition=1 {risks.get(1, float('nan')):.3f}, "
          f"condition=0 {risks.get(0, float('nan')):.3f}")
    print(f"training: {result['training']}")  # noqa: T201
    print(f"model: {result['model']}")  # noqa: T201
    return result


if __name__ == "__main__":
    main()
