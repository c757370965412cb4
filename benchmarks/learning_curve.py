"""Learning curve: the headline protocol at several training budgets, per model.

Fits ``CDMTSynthesizer`` (two stages, the default, or ``--single-stage``: ``profile=False``)
on the headline split (3,000 set-a patients) for each budget of ``--budgets`` seconds, samples
``-n`` patients at ``sample``'s default settings and scores them against the 1,000 unseen
patients, as ``physionet_cpu.py`` does: the summary discriminator, the sequence discriminator
on values and masks, on masks alone and on values alone, mean KS and the median KS of the gaps
between measurements. Every run is added to
``benchmarks/results/learning_curve.json`` (a run of the same model and budget replaces the
old one), and ``--import-headline FILE`` adds a ``physionet_cpu.py`` result as a point. The
plot ``docs/img/benchmarks/learning_curve.png`` (optimizer steps against the AUROCs) and the
``learning_curve`` section of docs/benchmarks.md are rewritten from the whole file.

    python benchmarks/learning_curve.py --budgets 150 300
    python benchmarks/learning_curve.py --import-headline benchmarks/results/physionet_cpu.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import _common as C
from cdmtehr import CDMTSynthesizer
from cdmtehr.evaluation import evaluate

NAME = "learning_curve"
PATH = C.RESULTS / f"{NAME}.json"
IMAGE = C.DOCS.parent / "img" / "benchmarks" / f"{NAME}.png"
MODELS = {True: "two stages (default)", False: "single stage (profile=False)"}


def run(budget, profile, train, test, roles, args) -> dict:
    synth = CDMTSynthesizer(max_time=budget, epochs=10_000, random_state=args.seed,
                            profile=profile)
    synth.fit(train, **roles)
    start = time.perf_counter()
    synthetic = synth.sample(args.n, random_state=args.seed)
    sample_seconds = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = evaluate(train, synthetic, test, **roles, random_state=args.seed,
                          metrics=("fidelity", "discriminative", "care"))
    last = synth.history_[-1]
    charting = None if synth.profile_model_ is None else synth.profile_model_.charting
    return {"model": MODELS[profile], "budget_seconds": budget,
            "optimizer_steps": int(last["steps"]), "training_seconds": float(last["seconds"]),
            "charting_epochs": None if charting is None else charting.epochs,
            **yardstick(scores), "sampling_ms_per_patient": sample_seconds / args.n * 1000,
            "command": C.command()}


def yardstick(scores) -> dict:
    """The scores a point keeps, from `evaluate`'s (or a headline result's) scores."""
    return {"summary_auroc": scores["disc_summary_auroc"],
            "sequence_auroc": scores["disc_sequence_auroc"],
            "masks_auroc": scores["disc_sequence_masks_auroc"],
            "values_auroc": scores["disc_sequence_values_auroc"],
            "ks_mean": scores["ks_mean"], "gap_ks": scores["care_gap_ks_median"]}


def from_headline(path) -> dict:
    result = json.loads(open(path).read())
    scores, training = result["scores"], result["training"]
    words = result["command"].split()
    budget = result["training"].get("budget_seconds")
    if budget is None:  # results written before the budget was recorded
        budget = float(words[words.index("--max-time") + 1]) if "--max-time" in words else 600.0
    return {"model": MODELS[True], "budget_seconds": budget,
            "optimizer_steps": int(training["optimizer_steps"]),
            "training_seconds": float(training["seconds"]),
            "charting_epochs": result["model"].get("charting_epochs"), **yardstick(scores),
            "command": result["command"]}


def plot(points, path):
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    for ax, key, title in zip(axes, ("summary_auroc", "sequence_auroc", "masks_auroc"),
                              ("summary discriminator", "sequence discriminator",
                               "sequence discriminator, masks alone")):
        for model in MODELS.values():
            rows = sorted((p for p in points if p["model"] == model and p.get(key) is not None),
                          key=lambda p: p["optimizer_steps"])
            if rows:
                ax.plot([p["optimizer_steps"] for p in rows], [p[key] for p in rows], "o-",
                        label=model)
        for target, style in ((0.80 if key == "summary_auroc" else 0.75, ":"), (0.70, "--")):
            ax.axhline(target, color="#555555", linestyle=style, linewidth=1)
        ax.set_xscale("log")
        # Label the measured step counts only: log-scale minor labels overlap at this width.
        steps = []
        for step in sorted({p["optimizer_steps"] for p in points}):
            if not steps or step > 1.25 * steps[-1]:  # closer labels would overlap
                steps.append(step)
        ax.set_xticks(steps, [f"{s:,}" for s in steps])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("optimizer steps (2 CPU threads: ~1,000 in 600 s)", fontsize=8)
        ax.set_title(title)
    axes[0].set_ylabel("real-vs-synthetic AUROC (0.5 ideal)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def write_docs(points):
    lines = ["Against the unseen patients; targets at 600 s: summary 0.80, sequence and masks "
             "alone 0.75 (dotted), and 0.70 at one hour (dashed).", "",
             "| model | budget (s) | optimizer steps | charting epochs | summary AUROC | "
             "sequence AUROC | masks alone | values alone | KS | gap KS |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(points, key=lambda p: (p["model"], p["optimizer_steps"])):
        charting = p.get("charting_epochs")
        lines.append(f"| {p['model']} | {p['budget_seconds']:g} | {p['optimizer_steps']:,} | "
                     f"{'–' if charting is None else charting} | "
                     + " | ".join(C.fmt(p.get(key)) for key in (
                         "summary_auroc", "sequence_auroc", "masks_auroc", "values_auroc",
                         "ks_mean", "gap_ks")) + " |")
    lines += ["", f"![learning curve](img/benchmarks/{IMAGE.name})", "",
              "Commands: " + "; ".join(sorted({f"`{p['command']}`" for p in points}))]
    C.update_docs(NAME, "Learning curve", lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="*", default=[])
    parser.add_argument("--single-stage", action="store_true", help="profile=False")
    parser.add_argument("--import-headline", default=None, metavar="JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-n", type=int, default=1000)
    args = parser.parse_args(argv)
    points = json.loads(PATH.read_text())["points"] if PATH.exists() else []
    new = [from_headline(args.import_headline)] if args.import_headline else []
    if args.budgets:
        train, test, roles = C.load_split(False, args.seed)
        for budget in args.budgets:
            new.append(run(budget, not args.single_stage, train, test, roles, args))
            print(json.dumps(new[-1]), flush=True)
    for point in new:
        points = [p for p in points if (p["model"], p["budget_seconds"])
                  != (point["model"], point["budget_seconds"])] + [point]
    PATH.write_text(json.dumps(C.to_jsonable(C.stamp({"points": points})), indent=2))
    plot(points, IMAGE)
    write_docs(points)


if __name__ == "__main__":
    main()
