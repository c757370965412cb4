"""Differential privacy on PhysioNet 2012: fidelity and membership attacks against epsilon.

For each epsilon in `--epsilons` (and, unless `--no-baseline`, the non-private default), fit
CDMTSynthesizer for `--max-time` seconds on the 3,000 training patients of set a (the split of
physionet_cpu.py), sample `-n` patients and score them against the 1,000 unseen ones:
the summary discriminator and the sequence discriminator (on values and masks, and on masks
alone), KS, missing-rate error, TSTR/TRTR, DCR, and the membership
attacks of ``cdmtehr.evaluation.membership_inference`` (density ratio and closeness, AUROC and
TPR at 1 % FPR, attribute inference on in-hospital death).

The overfitted control (unless `--no-overfit`) fits `--overfit-patients` patients for
`--overfit-epochs` epochs (at most `--overfit-seconds`): its attack AUROC must exceed the
default model's, or the attacks measure nothing.

Runs are merged into the results file by label, so subsets can be run one after another
(``--epsilons 1 3 --no-baseline --no-overfit``). A plot of the scores against epsilon goes to
docs/img/benchmarks/privacy.png and a table to docs/benchmarks.md (not with --quick).

    OMP_NUM_THREADS=1 python benchmarks/privacy.py --epsilons 1 3 10 --max-time 600
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import _common as C
import numpy as np
import pandas as pd
import torch

from cdmtehr import CDMTSynthesizer
from cdmtehr.evaluation import evaluate, real_vs_real

NAME = "privacy"
START, END = "<!-- privacy:start -->", "<!-- privacy:end -->"
PLOT = C.DOCS.parent / "img" / "benchmarks" / "privacy.png"
SCORES = [
    ("disc_summary_auroc", "summary AUROC"),
    ("disc_sequence_auroc", "sequence AUROC"),
    ("disc_sequence_masks_auroc", "masks-only AUROC"),
    ("ks_mean", "KS"),
    ("missing_rate_diff", "missing-rate error"),
    ("tstr_trtr_auroc_ratio", "TSTR/TRTR"),
    ("dcr_ratio", "DCR ratio"),
    ("domias_auroc", "density-ratio attack AUROC"),
    ("domias_tpr_at_1pct_fpr", "its TPR at 1 % FPR"),
    ("closeness_auroc", "closeness attack AUROC"),
    ("closeness_tpr_at_1pct_fpr", "its TPR at 1 % FPR"),
    ("attribute_gap", "attribute-inference gap"),
]


def run(label, params, train, test, roles, args) -> dict:
    """Fit, sample and score one model; returns its entry of the results."""
    synth = CDMTSynthesizer(random_state=args.seed, **params)
    n_patients = train[roles["id_col"]].nunique()
    print(f"[{label}] fitting on {n_patients} patients: {params}", flush=True)
    started = time.perf_counter()
    synth.fit(train, **roles)
    fit_seconds = time.perf_counter() - started
    synthetic = synth.sample(args.n, random_state=args.seed)
    scores = evaluate(train, synthetic, test, random_state=args.seed, **roles)
    history = synth.history_[-1]
    entry = {
        "params": params,
        "command": C.command(),
        "n_train": int(n_patients),
        "fit_seconds": fit_seconds,
        "epochs": history["epoch"],
        "optimizer_steps": history["steps"],
        "privacy": synth.privacy_,
        "scores": C.numbers_only(scores),
    }
    eps = "none" if synth.privacy_ is None else f"{synth.privacy_['epsilon']:.2f}"
    print(f"[{label}] {history['steps']} steps in {fit_seconds:.0f} s, epsilon spent {eps}; "
          + ", ".join(f"{k} {scores.get(k, float('nan')):.3f}" for k, _ in SCORES), flush=True)
    return entry


def label_of(epsilon) -> str:
    return "non-private" if epsilon is None else f"epsilon={epsilon:g}"


def table_lines(result) -> list:
    runs = result["runs"]
    order = sorted(runs, key=lambda k: (runs[k].get("overfit", False),
                                        runs[k]["privacy"] is None,
                                        (runs[k]["privacy"] or {}).get("target_epsilon", 0)))
    head = "| model | ε spent (δ) | steps | " + " | ".join(s for _, s in SCORES) + " |"
    lines = [head, "|" + "---|" * (3 + len(SCORES))]
    for label in order:
        entry = runs[label]
        privacy = entry["privacy"]
        spent = "–" if privacy is None else f"{privacy['epsilon']:.2f} ({privacy['delta']:.1e})"
        cells = [C.fmt(entry["scores"].get(k)) for k, _ in SCORES]
        lines.append(f"| {label} | {spent} | {entry['optimizer_steps']:,} | "
                     + " | ".join(cells) + " |")
    return lines


def write_docs(result, path=C.DOCS):
    """Replace the privacy section of docs/benchmarks.md with this result."""
    machine = C.machine_line(result["machine"])
    lines = [START, f"Command: `{result['command']}` — machine: {machine}.", "",
             *table_lines(result), ""]
    floor = result.get("real_vs_real")
    if floor:
        lines.append("Real vs real (floor): " + ", ".join(
            f"{label} {C.fmt(floor.get(k))}" for k, label in SCORES if k in floor) + ".")
        lines.append("")
    lines += [f"![Fidelity and attacks against epsilon](img/benchmarks/{PLOT.name})", END]
    text = path.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + "\n".join(lines) + rest.split(END, 1)[1]
    else:
        text = (text.rstrip() + "\n\n## Differential privacy: fidelity and attacks against "
                "epsilon\n\n" + "\n".join(lines) + "\n")
    path.write_text(text)


def plot(result, path=PLOT):
    """Scores of the private runs against epsilon, the non-private run as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {k: v for k, v in result["runs"].items() if not v.get("overfit")}
    private = sorted((v["privacy"]["target_epsilon"], v) for v in runs.values() if v["privacy"])
    baseline = next((v for v in runs.values() if v["privacy"] is None), None)
    panels = [("disc_summary_auroc", "real-vs-synthetic AUROC (summaries)"),
              ("disc_sequence_auroc", "real-vs-synthetic AUROC (sequences)"),
              ("ks_mean", "mean KS"), ("tstr_trtr_auroc_ratio", "TSTR / TRTR"),
              ("domias_auroc", "membership attack AUROC")]
    fig, axes = plt.subplots(1, len(panels), figsize=(17, 3.4))
    for ax, (key, title) in zip(axes, panels, strict=True):
        if private:
            eps = [e for e, _ in private]
            ax.plot(eps, [v["scores"].get(key, np.nan) for _, v in private], "o-",
                    label="DP-SGD")
            ax.set_xscale("log")
            ax.set_xticks(eps, [f"{e:g}" for e in eps])
        if baseline is not None:
            ax.axhline(baseline["scores"].get(key, np.nan), color="#d62728", linestyle="--",
                       label="non-private")
        ax.set_xlabel("target ε")
        ax.set_title(title, fontsize=10)
    overfitted = next((v for v in result["runs"].values() if v.get("overfit")), None)
    if overfitted is not None:
        axes[-1].axhline(overfitted["scores"].get("domias_auroc", np.nan), color="#9467bd",
                         linestyle="-.", label=f"overfitted ({overfitted['n_train']} patients)")
    axes[-1].axhline(0.5, color="#555555", linestyle=":", linewidth=1, label="chance")
    axes[-1].legend(fontsize=8)
    fig.suptitle(f"PhysioNet 2012, {result['max_time']:g} s of training per model", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--epsilons", type=float, nargs="*", default=[1.0, 3.0, 10.0])
    p.add_argument("--no-baseline", action="store_true", help="skip the non-private model")
    p.add_argument("--no-overfit", action="store_true", help="skip the overfitted control")
    p.add_argument("--overfit-patients", type=int, default=200)
    p.add_argument("--overfit-epochs", type=int, default=3000)
    p.add_argument("--overfit-seconds", type=float, default=600.0)
    args = p.parse_args(argv)
    if args.docs_from:
        result = C.docs_from(args.docs_from, write_docs)
        plot(result)
        return result
    torch.manual_seed(args.seed)
    train, test, roles = C.load_split(args.quick, args.seed)
    budget = C.model_params(args.quick)
    budget["max_time"] = args.max_time
    output = Path(args.output) if args.output else (
        (C.QUICK_RESULTS if args.quick else C.RESULTS) / f"{NAME}.json")
    result = json.loads(output.read_text()) if output.exists() else {"runs": {}}
    if result.get("max_time") not in (None, args.max_time):
        result = {"runs": {}}  # another budget: start afresh rather than mix budgets
    result.update(quick=args.quick, max_time=args.max_time, seed=args.seed, n_synthetic=args.n)
    if "real_vs_real" not in result:
        floor = real_vs_real(pd.concat([train, test]), **roles, random_state=args.seed)
        result["real_vs_real"] = C.numbers_only(floor)
        save(result, args, output)
    jobs = [] if args.no_baseline else [None]
    jobs += list(args.epsilons)
    for epsilon in jobs:
        # The defaults: with dp_epsilon the estimator takes its private (single-stage) path.
        params = dict(budget, dp_epsilon=epsilon)
        result["runs"][label_of(epsilon)] = run(label_of(epsilon), params, train, test, roles,
                                                args)
        save(result, args, output)
    if not args.no_overfit:
        if args.quick:  # a smoke test of the control, not an overfitted model
            args.overfit_patients, args.overfit_epochs = 30, 3
        ids = train[roles["id_col"]].drop_duplicates().to_numpy()[: args.overfit_patients]
        small = train[train[roles["id_col"]].isin(ids)].reset_index(drop=True)
        params = dict(budget, max_time=args.overfit_seconds, epochs=args.overfit_epochs)
        thin = C.thin_columns(small, roles)  # none of 200 patients; some of quick mode's 30
        entry = run("overfitted", params, small.drop(columns=thin), test.drop(columns=thin),
                    C.without_columns(roles, thin), args)
        entry["overfit"] = True
        result["runs"][f"overfitted ({args.overfit_patients} patients)"] = entry
        save(result, args, output)
    for line in table_lines(result):
        print(line)
    if not args.quick:
        write_docs(result)
        plot(result)
    return result


def save(result, args, output):
    result["command"] = C.command()
    result["machine"] = C.machine()
    result["peak_rss_mb"] = C.peak_rss_mb()
    path = C.save_result(NAME, result, args.quick, output)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
