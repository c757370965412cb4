"""Plots of the benchmarks, drawn from their saved results (no model is run).

Reads ``peers.json``, ``steps_sweep.json``, ``ablations.json`` and ``speed.json`` from
`--results` (default benchmarks/results/), writes one PNG per benchmark into `--out` (default
docs/img/benchmarks/) and, unless `--no-docs`, the ``plots`` section of docs/benchmarks.md that
shows them. A missing results file skips its plot with a note. Needs matplotlib (the
``benchmarks`` extra).

    python benchmarks/plots.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _common as C

DEFAULT_OUT = C.DOCS.parent / "img" / "benchmarks"
PALETTE = {"cdmtehr": "#1f77b4", "PAR (SDV)": "#d62728", "DDPM 1000-step": "#7f7f7f",
           "euler": "#1f77b4", "heun": "#2ca02c", "sde": "#ff7f0e", "dpmpp_2m": "#9467bd",
           "floor": "#555555"}


def _floor(ax, value, label="real vs real (floor)"):
    ax.axhline(value, color=PALETTE["floor"], linestyle="--", linewidth=1, label=label)


def plot_peers(result, path, plt):
    # Methods that were skipped (PAR without its environment) have no figures to draw.
    methods = {k: m for k, m in result["methods"].items() if "sampling_ms_per_patient" in m}
    names = list(methods)
    colors = [PALETTE.get(name, "#9467bd") for name in names]
    floor = result["real_vs_real"]
    panels = [
        ("sampling ms per patient (log)", [m["sampling_ms_per_patient"] for m in methods.values()],
         None, True),
        ("mean KS (lower is better)", [m["scores"]["ks_mean"] for m in methods.values()],
         floor["ks_mean"], False),
        ("missing-rate error", [m["scores"]["missing_rate_diff"] for m in methods.values()],
         floor["missing_rate_diff"], False),
        ("real-vs-synthetic AUROC", [m["scores"]["disc_auroc"] for m in methods.values()],
         floor["disc_auroc"], False),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    for ax, (title, values, floor_value, log) in zip(axes, panels):
        ax.bar(range(len(names)), values, color=colors)
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        if log:
            ax.set_yscale("log")
        if floor_value is not None:
            _floor(ax, floor_value)
        for i, value in enumerate(values):
            ax.annotate(f"{value:.3g}", (i, value), ha="center", va="bottom", fontsize=8)
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Same {result['budget_seconds']:g}-second training budget, "
                 f"{result['n_synthetic']} synthetic patients each", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_steps_sweep(result, path, plt):
    runs = result["runs"]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    keys = ["disc_summary_auroc", "disc_sequence_auroc", "ks_mean"]
    for sampler in dict.fromkeys(run["sampler"] for run in runs):
        mine = sorted((r for r in runs if r["sampler"] == sampler),
                      key=lambda r: r["ms_per_patient"])
        cost = [r["ms_per_patient"] for r in mine]
        style = {"marker": "o", "color": PALETTE.get(sampler), "label": sampler}
        for ax, key in zip(axes, keys):
            ax.plot(cost, [r["scores"][key] for r in mine], **style)
        axes[3].plot(cost, [r["solver_error"]["value_error"] for r in mine], **style)
    for ax, key in zip(axes, keys):
        _floor(ax, result["floor"]["scores"][key], label="a second 200-step cohort (floor)")
    reference = result["reference"]
    titles = [f"summary AUROC against {reference['steps']} {reference['sampler']} steps",
              "sequence AUROC against the same", "mean KS against the same",
              "distance to the 200-step solution (sd)"]
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    for ax, title in zip(axes, titles):
        ax.set_xscale("log")
        ax.set_xticks([5, 10, 20, 50, 100])
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("sampling ms per patient")
        ax.set_title(title, fontsize=10)
    axes[3].set_yscale("log")
    axes[3].legend(fontsize=8)
    fig.suptitle(f"One model, {result['n_synthetic']} patients per point", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_ablations(result, path, plt):
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    models = result["models"]
    names = list(models)
    short = [name.split(" (")[0].replace("two stages, EDM's fixed schedule", "EDM schedule")
             for name in names]
    floor = result["real_vs_real"]
    metrics = {"disc_summary_auroc": "summary", "disc_sequence_auroc": "sequence",
               "disc_sequence_masks_auroc": "masks alone",
               "disc_sequence_values_auroc": "values alone"}
    width = 0.8 / len(metrics)
    for i, (metric, label) in enumerate(metrics.items()):
        values = [models[name]["scores"].get(metric, float("nan")) for name in names]
        offset = (i - (len(metrics) - 1) / 2) * width
        axes[0].bar([j + offset for j in range(len(names))], values, width, label=label)
    axes[0].set_xticks(range(len(names)), short, fontsize=8)
    axes[0].axhline(floor["disc_summary_auroc"], color=PALETTE["floor"], linestyle="--",
                    linewidth=1, label="real vs real")
    axes[0].set_ylim(0.4, 1.15)
    axes[0].set_ylabel("AUROC against unseen patients")
    axes[0].set_title("same budget and seed", fontsize=10)
    axes[0].legend(fontsize=7, ncol=3, loc="upper center")

    scales = sorted(result["guidance"], key=float)
    risks = [result["guidance"][s]["mean_risk"] for s in scales]
    ks = [result["guidance"][s]["scores"]["ks_mean"] for s in scales]
    x = [float(s) for s in scales]
    axes[1].plot(x, risks, marker="o", label="synthetic deaths")
    for label, value in result["real_mean_risk"].items():
        axes[1].axhline(value, linestyle=":", color="#d62728" if "deaths" in label else "#2ca02c",
                        label=label)
    axes[1].set_title("mortality model's mean risk, condition=1", fontsize=10)
    axes[1].set_xlabel("guidance scale")
    axes[1].legend(fontsize=7)
    axes[2].plot(x, ks, marker="o")
    _floor(axes[2], result["minority_real_vs_real"]["ks_mean"], "real vs real deaths (floor)")
    axes[2].set_title("mean KS against real deaths", fontsize=10)
    axes[2].set_xlabel("guidance scale")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_speed(result, path, plt):
    sampling = C.table_from_json(result["tables"]["sampling"])
    streaming = C.table_from_json(result["tables"]["streaming"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    batch = sampling["sample_batch_size"].astype(float)
    axes[0].plot(batch, sampling["ms_per_patient"].astype(float), marker="o", label="ms/patient")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("sample_batch_size")
    run = result["sampling"][0]
    axes[0].set_ylabel(f"ms per patient ({run['steps']} {run.get('sampler', 'euler')} steps)")
    twin = axes[0].twinx()
    twin.plot(batch, sampling["%_of_matmul_ceiling"].astype(float), marker="s", color="#ff7f0e",
              label="% of matmul GFLOP/s")
    twin.set_ylabel("% of the matmul ceiling")
    axes[0].set_title("sampling speed by chunk size", fontsize=10)
    handles = axes[0].get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    axes[0].legend(handles=handles, loc="center right", fontsize=7)
    rows = streaming[streaming["patients"] != "load only"]
    axes[1].plot(rows["patients"].astype(float), rows["peak_RSS_MB"].astype(float), marker="o")
    base = streaming[streaming["patients"] == "load only"]["peak_RSS_MB"]
    if len(base):
        _floor(axes[1], float(base.iloc[0]), "model loaded, nothing sampled")
    axes[1].set_xscale("log")
    axes[1].set_ylim(bottom=0)
    axes[1].set_xlabel("patients streamed to parquet")
    axes[1].set_ylabel("peak RSS (MB)")
    axes[1].set_title("streaming memory", fontsize=10)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


PLOTS = {
    "peers": (plot_peers, "cdmtehr against SDV's PAR and a 1000-step DDPM"),
    "steps_sweep": (plot_steps_sweep, "samplers against 200 Euler steps, by time"),
    "ablations": (plot_ablations, "schedule ablation and guidance for the minority class"),
    "speed": (plot_speed, "sampling speed by chunk size; streaming memory"),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=str(C.RESULTS), help="folder of the results JSON files")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="folder for the PNG files")
    p.add_argument("--no-docs", action="store_true", help="do not touch docs/benchmarks.md")
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (plot, caption) in PLOTS.items():
        source = Path(args.results) / f"{name}.json"
        if not source.exists():
            print(f"[plots] no {source}; skipping the {name} plot")
            continue
        result = json.loads(source.read_text())
        if result.get("quick") and not args.no_docs:
            raise SystemExit(f"{source} is a --quick result; its plot never goes into the docs.")
        path = out / f"{name}.png"
        plot(result, path, plt)
        written.append((name, caption, path))
        print(f"[plots] {path}")
    if not args.no_docs:
        write_docs(written)
    return written


def write_docs(written, docs=None):
    """Rewrite the plots section of docs/benchmarks.md with the images just drawn."""
    docs_dir = (Path(docs) if docs is not None else C.DOCS).parent
    lines = [f"Command: `{C.command()}` (draws from the results files of the sections above)."]
    for name, caption, path in written:
        relative = Path(path).resolve().relative_to(docs_dir.resolve()).as_posix()
        lines += ["", f"**{caption.capitalize()}** ({name}.json):", "",
                  f"![{caption}]({relative})"]
    C.update_docs("plots", "Plots", lines, docs)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
