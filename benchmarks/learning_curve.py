"""Learning curve: the headline protocol at several training budgets, per model.

Fits ``CDMTSynthesizer`` (two stages, the default, or ``--single-stage``: ``profile=False``)
on the headline split (3,000 set-a patients) for each budget of ``--budgets`` seconds, samples
``-n`` patients at 50 Euler steps and scores them against the 1,000 unseen patients, as
``physionet_cpu.py`` does: summary and sequence discriminators, mean KS. Every run is added to
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
    synthetic = synth.sample(args.n, steps=50, sampler="euler", random_state=args.seed)
    sample_seconds = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = evaluate(train, synthetic, test, **roles, random_state=args.seed,
                          metrics=("fidelity", "discriminative"))
    last = synth.history_[-1]
    return {"model": MODELS[profile], "budget_seconds": budget,
            "optimizer_steps": int(last["steps"]), "training_seconds": float(last["seconds"]),
            "summary_auroc": scores["disc_summary_auroc"],
            "sequence_auroc": scores["disc_sequence_auroc"], "ks_mean": scores["ks_mean"],
            "sampling_ms_per_patient": sample_seconds / args.n * 1000,
            "command": C.command()}


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
            "summary_auroc": scores["disc_summary_auroc"],
            "sequence_auroc": scores["disc_sequence_auroc"], "ks_mean": scores["ks_mean"],
            "command": result["command"]}


def plot(points, path):
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, key, title in zip(axes, ("summary_auroc", "sequence_auroc"),
                              ("summary discriminator", "GRU sequence discriminator")):
        for model in MODELS.values():
            rows = sorted((p for p in points if p["model"] == model),
                          key=lambda p: p["optimizer_steps"])
            if rows:
                ax.plot([p["optimizer_steps"] for p in rows], [p[key] for p in rows], "o-",
                        label=model)
        for target, style in ((0.85, ":"), (0.65, "--")):
            ax.axhline(target, color="#555555", linestyle=style, linewidth=1)
        ax.set_xscale("log")
        # Label the measured step counts only: log-scale minor labels overlap at this width.
        steps = sorted({p["optimizer_steps"] for p in points})
        ax.set_xticks(steps, [f"{s:,}" for s in steps])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("optimizer steps (2 CPU threads: ~1,000 in 600 s)")
        ax.set_title(title)
    axes[0].set_ylabel("real-vs-synthetic AUROC (0.5 ideal)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def write_docs(points):
    lines = ["| model | budget (s) | optimizer steps | summary AUROC | sequence AUROC | KS |",
             "|---|---|---|---|---|---|"]
    for p in sorted(points, key=lambda p: (p["model"], p["optimizer_steps"])):
        lines.append(f"| {p['model']} | {p['budget_seconds']:g} | {p['optimizer_steps']:,} | "
                     f"{p['summary_auroc']:.3f} | {p['sequence_auroc']:.3f} | "
                     f"{p['ks_mean']:.3f} |")
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
    PATH.write_text(json.dumps(C.to_jsonable({"points": points}), indent=2))
    plot(points, IMAGE)
    write_docs(points)


if __name__ == "__main__":
    main()
