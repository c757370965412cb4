"""Re-run every benchmark and rebuild docs/benchmarks.md from the results.

    python benchmarks/run_all.py                 # every script at its documented settings
                                                 # (hours), then the page from results/*.json
    python benchmarks/run_all.py --quick         # every quick mode (minutes): results/quick/,
                                                 # page to results/quick/benchmarks.md
    python benchmarks/run_all.py --render-only   # the page from the saved results, nothing run
    python benchmarks/run_all.py --check         # exit 1 if docs/benchmarks.md is not the page
                                                 # that the saved results give

The page is written here and only here: its intro, one section per result file (the
script's own table, the command that made it, the machine, the commit), and *Design
choices* from ``benchmarks/design_choices.json``. To add a benchmark, add its `Run` to
`RUNS` (how to run it, fully and quickly) and its `Section` to `SECTIONS` (where its table
goes); benchmarks/README.md says how.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402

DESIGN_CHOICES = HERE / "design_choices.json"
QUICK_PAGE = C.QUICK_RESULTS / "benchmarks.md"
IMAGES = ROOT / "docs" / "img" / "benchmarks"
M600 = "benchmarks/results/models/default_600s.cdmt"
M3600 = "benchmarks/results/models/default_3600s.cdmt"


@dataclass
class Run:
    """One command of a full run, and its quick form.

    `full` and `quick` are the arguments after ``python``, from the repository root.
    `output` is the result file in benchmarks/results/ (None: the command writes none);
    ``--output`` to results/quick/ is added to a quick command that has an `output`.
    `quick` None: the script has no quick mode, and `why` says what the quick run does instead.
    """

    full: list
    quick: list | None = None
    output: str | None = None
    why: str = ""


@dataclass
class Section:
    """A section of the page: a heading, a short paragraph, the table of one result file.

    `render(result, name)` returns the lines of the table (default: the script's own
    ``write_docs``). `before` is the result's provenance while the file has none of its own
    (results saved before files recorded their commit): the commit that saved it, what its
    model was, and the commands that remake it on a checkout of that commit.
    """

    name: str
    title: str
    about: str
    render: object = None
    level: int = 2
    before: dict = field(default_factory=dict)


def script(name, *args):
    return [f"benchmarks/{name}.py", *args]


RUNS = [
    Run(script("physionet_cpu", "--max-time", "600", "--save-model", M600),
        script("physionet_cpu", "--quick"), "physionet_cpu.json"),
    Run(script("physionet_cpu", "--max-time", "3600", "--output",
               "benchmarks/results/physionet_cpu_1h.json", "--save-model", M3600),
        None, "physionet_cpu_1h.json", "covered by physionet_cpu.py --quick"),
    Run(script("learning_curve", "--import-headline", "benchmarks/results/physionet_cpu.json",
               "--budgets", "150", "300"),
        None, "learning_curve.json", "no quick mode; its points are headline runs"),
    Run(script("learning_curve", "--import-headline",
               "benchmarks/results/physionet_cpu_1h.json"),
        None, "learning_curve.json", "no quick mode; its points are headline runs"),
    Run(script("generalization", "--cohort", "setb", "--max-time", "600"),
        script("generalization", "--cohort", "setb", "--quick"), "generalization_setb.json"),
    Run(script("generalization", "--cohort", "variable", "--max-time", "600"),
        script("generalization", "--cohort", "variable", "--quick"),
        "generalization_variable.json"),
    Run(script("peers", "--max-time", "600", "-n", "500", "--model", M600),
        script("peers", "--quick"), "peers.json"),
    Run(script("steps_sweep", "--model", M600), script("steps_sweep", "--quick"),
        "steps_sweep.json"),
    Run(script("ablations", "--max-time", "600", "--model", M600),
        script("ablations", "--quick"), "ablations.json"),
    Run(script("speed", "--model", M600), script("speed", "--quick"), "speed.json"),
    Run(script("completion", "--model", M600), script("completion", "--quick"),
        "completion.json"),
    Run(script("privacy", "--epsilons", "1", "3", "10", "--max-time", "600"),
        script("privacy", "--quick", "--epsilons", "3", "--no-baseline"), "privacy.json"),
    Run(script("model_file", "--model", M600), script("model_file", "--quick"),
        "model_file.json"),
    Run(script("separating_features", "--model", M600),
        script("separating_features", "--quick"), "separating_features.json"),
    Run(script("schedule_of_care"), script("schedule_of_care", "--quick"),
        "schedule_of_care.json"),
    Run(script("second_stage", "--model", M600), script("second_stage", "--quick"),
        "second_stage.json"),
    Run(script("measurement_timing", "--model", M600), script("measurement_timing", "--quick"),
        "measurement_timing.json"),
    Run(script("measurement_timing", "--model", M3600, "--output",
               "benchmarks/results/measurement_timing_1h.json"),
        None, "measurement_timing_1h.json", "covered by measurement_timing.py --quick"),
    Run(script("value_memory", "--model", M600), script("value_memory", "--quick"),
        "value_memory.json"),
    Run(script("value_memory", "--model", M3600, "--output",
               "benchmarks/results/value_memory_1h.json"),
        None, "value_memory_1h.json", "covered by value_memory.py --quick"),
    Run(script("schedule_first_stage", "--model", M600),
        script("schedule_first_stage", "--quick"), "schedule_first_stage.json"),
    Run(script("tail_rates", "--model", M600, "-n", "20000", "--scores"), script("tail_rates", "--quick"),
        "tail_rates.json"),
    Run(script("distributed"), script("distributed", "--quick"), "distributed.json"),
    Run(script("profile_models"), script("profile_models", "-n", "100"), "profile_models.json"),
    Run(script("profile_decoding", "--model", M600), script("profile_decoding", "--quick"),
        "profile_decoding.json"),
    Run(script("profile_decoding", "--model", M3600, "--output",
               "benchmarks/results/profile_decoding_1h.json"),
        None, "profile_decoding_1h.json", "covered by profile_decoding.py --quick"),
    *[Run(script("backbone_probe", *args), None, output,
          "no quick mode; its smallest run fits the full split")
      for args, output in [
          (("--backbone", "bigru", "--epochs", "85"), "backbone_probe_bigru.json"),
          (("--backbone", "transformer", "--layers", "2", "--epochs", "72"),
           "backbone_probe_transformer.json"),
          (("--backbone", "hybrid", "--epochs", "47"), "backbone_probe_hybrid.json"),
          (("--backbone", "bigru", "--epochs", "85", "--seed", "1", "--output",
            "benchmarks/results/backbone_probe_bigru_seed1.json"),
           "backbone_probe_bigru_seed1.json"),
          (("--backbone", "hybrid", "--epochs", "47", "--seed", "1", "--output",
            "benchmarks/results/backbone_probe_hybrid_seed1.json"),
           "backbone_probe_hybrid_seed1.json"),
          (("--backbone", "bigru", "--epochs", "255", "--output",
            "benchmarks/results/backbone_probe_bigru_3x.json"), "backbone_probe_bigru_3x.json"),
          (("--backbone", "hybrid", "--epochs", "141", "--output",
            "benchmarks/results/backbone_probe_hybrid_3x.json"),
           "backbone_probe_hybrid_3x.json"),
      ]],
    Run(script("robustness_memory", "--steps", "100", "1000", "10000"),
        script("robustness_memory", "--steps", "10", "--long", "100"), "robustness_memory.json"),
    Run(script("memory_scaling"), script("memory_scaling", "--quick"), "memory_scaling.json"),
    Run(script("data_layer"), script("data_layer", "--quick"), "data_layer.json"),
    Run(script("scale", "--model", M600), script("scale", "--quick"), "scale.json"),
    Run(script("plots", "--no-docs"),
        script("plots", "--no-docs", "--results", "benchmarks/results/quick", "--out",
               "benchmarks/results/quick/img")),
]


# ----------------------------------------------------------------------------- renderers


def benchmark_module(name):
    """A script of benchmarks/ as a module (its ``main`` is not run)."""
    import importlib

    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(name)


@contextlib.contextmanager
def scratch_docs(name):
    """A page holding only the `name` markers; `C.DOCS` points at it meanwhile."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "benchmarks.md"
        path.write_text(f"<!-- {name}:start -->\n<!-- {name}:end -->\n")
        saved, C.DOCS = C.DOCS, path
        try:
            yield path
        finally:
            C.DOCS = saved


def between_markers(text):
    """The lines between the first ``<!-- x:start -->`` and its ``<!-- x:end -->``."""
    match = re.search(r"<!-- (\S+):start -->\n(.*?)\n?<!-- \1:end -->", text, re.S)
    if match is None:
        raise ValueError("the script wrote no section")
    return match.group(2).splitlines()


def write_docs_of(module, section=None, call=None):
    """A renderer calling ``module.write_docs`` (or `call(module, result, path)`) on a scratch
    page, so that the page shows exactly what the script itself writes."""

    def render(result, name):
        mod = benchmark_module(module)
        with scratch_docs(section or name) as path:
            if call is not None:
                call(mod, result, path)
            else:
                mod.write_docs(result, path)
            return between_markers(path.read_text())

    return render


def headline(result, name):
    mod = benchmark_module("physionet_cpu")
    with scratch_docs(name) as path:
        mod.write_markdown(result, path=path, name=name)
        return between_markers(path.read_text())


def no_path(mod, result, path):
    mod.write_docs(result)  # writes C.DOCS, the scratch page


def learning_curve(mod, result, path):
    mod.write_docs(result["points"])


def robustness_table(result, name):
    """The cases of robustness_memory.json."""
    labels = {
        ("load", "honest"): "load the honest file ({file_kb:.0f} kB)",
        ("load", "max_length_10000"): "load, manifest declares `max_length=10000`",
        ("load", "hidden_size_8192"): "load, manifest declares `hidden_size=8192`",
        ("load", "n_classes_1e6"): "load, manifest declares `n_classes=10**6`",
        ("load", "arrays_bomb_2gb"): "load, `arrays.npz` inflating to 2 GB ({file_kb:.0f} kB "
                                     "file)",
    }
    lines = [f"Command: `{result['command']}`.", "",
             "| case | extra peak memory (MB) | seconds | outcome |", "|---|---|---|---|"]
    for case in result["cases"]:
        kind, value = case["kind"], case["value"]
        if kind == "sample":
            label = f"`sample(1, steps={value})`"
        elif kind == "fit_long":
            label = f"one epoch, 50 patients + one of {value:,} rows"
        else:
            label = labels.get((kind, value), f"load {value}").format(**case)
        lines.append(f"| {label} | {case['peak_extra_mb']:,.1f} | {case['seconds']:.1f} | "
                     f"{case.get('outcome', '')} |")
    return lines


BACKBONES = [
    ("BiGRU (default)", "backbone_probe_bigru.json"),
    ("transformer", "backbone_probe_transformer.json"),
    ("hybrid", "backbone_probe_hybrid.json"),
    ("BiGRU (default)", "backbone_probe_bigru_seed1.json"),
    ("hybrid", "backbone_probe_hybrid_seed1.json"),
    ("BiGRU (default), 3 × the budget", "backbone_probe_bigru_3x.json"),
    ("hybrid, 3 × the budget", "backbone_probe_hybrid_3x.json"),
]


def backbone_table(results, name):
    """One row per backbone_probe result file."""
    lines = ["| backbone | parameters | optimizer steps | seed | summary AUROC | "
             "sequence AUROC | KS | missing-rate error | spread ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    commands = []
    for (label, file), result in zip(BACKBONES, results):
        if result is None:
            lines.append(f"| {label} | not measured ({file}) |" + " |" * 8)
            continue
        row = result["result"]
        seed = re.search(r"--seed (\d+)", result["command"])
        lines.append(
            f"| {label} | {row['parameters']:,} | {row['optimizer_steps']:,} | "
            f"{seed.group(1) if seed else 0} | "
            f"{row['summary_auroc']:.3f} | {row['sequence_auroc']:.3f} | {row['ks_mean']:.3f} | "
            f"{row['missing_rate_diff']:.3f} | {row['spread_ratio_median']:.2f} |")
        commands.append(f"`{result['command']}`")
    return [*lines, "", "Commands: " + "; ".join(commands) + "."]


# `before` entries: results saved before result files recorded their commit. `remake` is
# run on a checkout of `commit` (M is any path for the saved model).
TWO_GRU = ("single stage, two GRU layers, learning rate 1e-3, no time pooling, static inputs "
           "only through FiLM, no exact repeats")
BF16 = "single stage, two GRU layers, trained in bfloat16"
BEFORE_POOLING = "two stages, before model files pooled rare values (`min_patients_per_value`)"
SAVE_M = "python benchmarks/physionet_cpu.py --max-time 600 --save-model M"

SECTIONS = [
    Section("physionet_cpu", "Default model on PhysioNet 2012, CPU budget",
            "3,000 training and 1,000 unseen test patients of set a, split by patient; "
            "`CDMTSynthesizer` with its defaults and a 600-second training budget; 1,000 "
            "synthetic patients at `sample`'s defaults (8 steps of DPM-Solver++(2M)), scored "
            "against the unseen patients next to the real-vs-real floor. The discriminators "
            "also score three more samples of the same model, each with its own seed: one "
            "sample's score moves by a few hundredths between draws, more than many changes "
            "this page compares. The targets are the "
            "project's. The default before the charting model (the denoiser placing the drawn "
            "counts; commit 639584a, 806 optimizer steps) scored summary 0.804, sequence "
            "0.902, masks alone 0.979, gap KS 0.100 and 1.401 times the real count of "
            "co-measurement patterns on this protocol.",
            headline,
            before={"commit": "0c27543", "date": "2026-12-06",
                    "remake": ["python benchmarks/physionet_cpu.py --max-time 600"]}),
    Section("physionet_cpu_1h", "The one-hour protocol",
            "The headline protocol with a one-hour training budget.", headline,
            before={"commit": "082ec40", "date": "2026-11-30", "model": BEFORE_POOLING,
                    "remake": ["python benchmarks/physionet_cpu.py --max-time 3600 --output "
                               "benchmarks/results/physionet_cpu_1h.json"]}),
    Section("learning_curve", "Learning curve",
            "The headline protocol at several training budgets; each point is a headline run "
            "(`--import-headline`) or a fit of the script's own (`--budgets`).",
            write_docs_of("learning_curve", call=learning_curve),
            before={"commit": "538e1e3", "date": "2026-11-30", "model": BEFORE_POOLING,
                    "remake": [SAVE_M, "python benchmarks/learning_curve.py --import-headline "
                               "benchmarks/results/physionet_cpu.json --budgets 150 300"]}),
    Section("generalization_setb", "Generalization: PhysioNet 2012 set b",
            "The same defaults, unchanged, on the other half of the challenge's public data "
            "(set b, bundled: `load_physionet2012(part=\"b\")`), split 3,000 / 1,000 as set a.",
            write_docs_of("generalization"),
            before={"commit": "033437d", "date": "2026-11-30", "model": BEFORE_POOLING,
                    "remake": ["python benchmarks/generalization.py --cohort setb "
                               "--max-time 600"]}),
    Section("generalization_variable", "Generalization: stays of variable length",
            "Set a with every stay cut at a random hour (12 to 48 hours kept, per patient), "
            "the headline's split: the model draws the lengths with the rest of the profile.",
            write_docs_of("generalization"),
            before={"commit": "68a43b9", "date": "2026-11-30", "model": BEFORE_POOLING,
                    "remake": ["python benchmarks/generalization.py --cohort variable "
                               "--max-time 600"]}),
    Section("peers", "cdmtehr against PAR and a 1000-step DDPM, same budget",
            "Three generators with the same training budget on the headline split: "
            "`CDMTSynthesizer`, SDV's `PARSynthesizer` (in its own environment, epoch by "
            "epoch until the budget is spent) and the DDPM of `benchmarks/ddpm_baseline.py` "
            "(cdmtehr's network and data layer, 1,000 discrete steps).",
            write_docs_of("peers"),
            before={"commit": "dce1912", "date": "2026-11-24", "model": TWO_GRU,
                    "remake": [SAVE_M, "python benchmarks/peers.py --max-time 600 -n 500 "
                               "--model M"]}),
    Section("steps_sweep", "Samplers against 200 Euler steps: quality and time",
            "One fitted model sampled with each sampler and step count, each cohort scored "
            "against 200 Euler steps of the same model.",
            write_docs_of("steps_sweep")),
    Section("ablations", "Ablations: two stages, learned schedule, guidance for the minority class",
            "The default against the paper's single-stage model and against EDM's fixed noise "
            "schedule, with the same budget and seed on the headline's yardstick; and guidance "
            "scales for the minority class.",
            write_docs_of("ablations")),
    Section("speed", "Speed and memory on the CPU",
            "Training throughput, sampling time by chunk size against the machine's float32 "
            "matmul ceiling, and the memory of streaming `sample_to_parquet`.",
            write_docs_of("speed"),
            before={"commit": "49077d6", "date": "2026-11-25", "model": BF16,
                    "remake": [SAVE_M, "python benchmarks/speed.py --model M"]}),
    Section("completion", "Conditional completion: imputation, forecast, given statics",
            "One fitted model completes the unseen patients with no retraining: imputation "
            "against classical imputers, a 24 h -> 24 h forecast against LOCF, and sampling "
            "given statics.",
            write_docs_of("completion"),
            before={"commit": "dbb5b67", "date": "2026-11-30",
                    "model": "single stage, fitted for 600 s on one thread by "
                             "`completion.py --fit-only`",
                    "remake": ["OMP_NUM_THREADS=1 python benchmarks/completion.py --fit-only "
                               "--save-model M",
                               "OMP_NUM_THREADS=1 python benchmarks/completion.py --model M"]}),
    Section("privacy", "Differential privacy: fidelity and attacks against epsilon",
            "`CDMTSynthesizer(max_time=600, dp_epsilon=ε)` for each target ε and the "
            "non-private default on the headline split, scored against the unseen patients, "
            "and the membership and attribute attacks of `membership_inference` "
            "([privacy.md](privacy.md)), with an overfitted control (200 training patients). "
            "Under `dp_epsilon` the estimator fits the single-stage model with DP-SGD; ε "
            "covers the training steps, not the preprocessor fitted on the same patients.",
            write_docs_of("privacy"),
            before={"commit": "7b48b5e", "date": "2026-12-06",
                    "remake": ["OMP_NUM_THREADS=1 python benchmarks/privacy.py --epsilons 1 3 10 "
                               "--max-time 600"]}),
    Section("model_file", "What a model file keeps, and what it gives away",
            "File sizes against the cohort, the encoder values that fewer than 5 training "
            "patients have, the first stage's draws against the training profiles, and the "
            "membership attacks on the default and a single-stage model.",
            write_docs_of("model_file"),
            before={"commit": "f3e6236", "date": "2026-12-06",
                    "remake": [SAVE_M, "python benchmarks/model_file.py --model M"]}),
    Section("separating_features", "What separates synthetic from real patients",
            "Which per-patient features of `cdmtehr.evaluation.patient_features` tell synthetic "
            "patients from unseen real ones, alone and by group.",
            write_docs_of("separating_features"),
            before={"commit": "ea30ded", "date": "2026-11-30",
                    "model": "single stage, trained for 85 passes (1,020 optimizer steps)",
                    "remake": ["python benchmarks/backbone_probe.py --backbone bigru --epochs 85 "
                               "--save-model M",
                               "python benchmarks/separating_features.py --model M"]}),
    Section("schedule_of_care", "The schedule of care alone",
            "Candidate models of the measurement masks alone, each drawn into real training "
            "patients' stays and scored by the masks-only sequence discriminator against the "
            "unseen patients; none of them is in the library.",
            write_docs_of("schedule_of_care"),
            before={"commit": "558a3a4", "date": "2026-12-06",
                    "remake": ["python benchmarks/schedule_of_care.py"]}),
    Section("second_stage", "The second stage alone",
            "Which stage the discriminators read: from one fitted default model, sampled "
            "patients against real training patients whose masks, statics and profile are kept "
            "and whose measured values are drawn by the denoiser given them (a perfect first "
            "stage), both against the unseen patients; and, per hourly vital and noise level, "
            "how much of the noise one denoising step removes.",
            write_docs_of("second_stage")),
    Section("measurement_timing", "Which variables' measurement times give the stays away",
            "From one fitted default model: for each variable alone, the masks-only sequence "
            "discriminator on its measurement times (synthetic against the unseen patients, "
            "beside two halves of them), and the hours from one measurement to the next, real "
            "and synthetic.",
            write_docs_of("measurement_timing")),
    Section("measurement_timing_1h", "The one-hour model", "The same on the one-hour "
            "default (`python benchmarks/physionet_cpu.py --max-time 3600`): its charting "
            "model stops on its held-out patients as at 600 s, so the measurement times change "
            "little with the longer budget.",
            write_docs_of("measurement_timing", section="measurement_timing"), level=3),
    Section("value_memory", "How the values move from hour to hour",
            "From one fitted default model: how much each hourly vital keeps of its last "
            "hour's deviation from the stay's mean, real and sampled at several sampler "
            "settings, beside the noise level from which each setting's last step jumps to "
            "the network's estimate of the clean values. At `sample`'s 8 steps the 600-s "
            "model's last step starts from a noise level near the size of the hourly "
            "movements of most vitals, and smooths them: finer grids show the denoiser's own "
            "values, with less memory than real ones (heart rate, GCS) where the 8-step "
            "sample looks right. Temperature and respiratory rate keep too much of it at 8 "
            "steps, urine too little at every setting.",
            write_docs_of("value_memory")),
    Section("value_memory_1h", "The one-hour model", "The same on the one-hour model, whose "
            "learned schedule starts the last step lower: its 8-step values show the "
            "denoiser's own memory, so more training alone does not bring the hours closer "
            "to real ones.",
            write_docs_of("value_memory", section="value_memory"), level=3),
    Section("schedule_first_stage", "A schedule of care as the first stage",
            "Schedule models of the masks as the first stage of one fitted model, end to end: "
            "the masks drawn by a schedule model (given the class, or placing the counts of a "
            "profile the trees drew), the means and sds drawn by the profile trees given the "
            "counts placed, and everything else by the model's denoiser given the masks "
            "(completion's replacement conditioning, 50 Euler steps); against the model's own "
            "patients of its time (the denoiser placing the drawn counts) and the real-vs-real "
            "floor, all scored against the unseen patients. Neither candidate is in the "
            "library: both draw whole hourly patterns from a vocabulary, with edits, and "
            "\"budget\" reads the measurements still to place. The default's first stage draws "
            "its charts with `cdmtehr.profiles.charting` instead (a MADE head over each step's "
            "records, the counts as context only; *Default model on PhysioNet 2012, CPU "
            "budget*).",
            write_docs_of("schedule_first_stage")),
    Section("tail_rates", "Outliers and the tail calibration",
            "Per variable, synthetic patients with a value outside its plausible range (the "
            "report's values to check) against the training patients, from one fitted default "
            "model whose draws are decoded without and with its tail calibration; the target "
            "is at most 1.5 times the training share. The discriminators and KS of both "
            "decodings against the unseen patients, beside the real-vs-real floors.",
            write_docs_of("tail_rates")),
    Section("distributed", "Training under torchrun",
            "The default model fitted for the same number of epochs (so the same optimizer "
            "steps) in one process and in two processes under `torchrun --standalone "
            "--nproc_per_node 2` (gloo on the CPU, one thread each), with the same seed, and "
            "in one process with the next seed, which shows the spread between seeds; each "
            "scored against the unseen patients. 20 epochs keep the three fits within minutes "
            "on a shared 2-core machine: the scores are those of a model trained far less "
            "than the default's 600 seconds, and the comparison is between the rows. Seconds "
            "are those of the training loop on a machine shared with other work: not a "
            "comparison of speed.",
            write_docs_of("distributed")),
    Section("profile_models", "Profile models: what draws the first stage",
            "Candidate generators of the per-patient profile, fitted on the training patients' "
            "profiles; drawn profiles against the unseen patients' (summary discriminator, "
            "0.5 ideal).",
            write_docs_of("profile_models", call=no_path),
            before={"commit": "445face", "date": "2026-11-30",
                    "model": "profile trees that kept their training rows (before pooling)",
                    "remake": ["python benchmarks/profile_models.py"]}),
    Section("profile_decoding", "How the drawn profile is kept",
            "Sampling-side variants on one saved two-stage model: the drawn profile held from "
            "a noise level on (or never; the counts forced on the finished state only), "
            "anchored or plain profile trees.",
            write_docs_of("profile_decoding"),
            before={"commit": "2e87781", "date": "2026-11-30", "model": BEFORE_POOLING,
                    "remake": [SAVE_M, "python benchmarks/profile_decoding.py --model M"]}),
    Section("profile_decoding_1h", "The one-hour model", "The same variants on the one-hour "
            "model.", write_docs_of("profile_decoding", section="profile_decoding"), level=3,
            before={"commit": "082ec40", "date": "2026-11-30", "model": BEFORE_POOLING,
                    "remake": ["python benchmarks/physionet_cpu.py --max-time 3600 "
                               "--save-model M",
                               "python benchmarks/profile_decoding.py --model M --output "
                               "benchmarks/results/profile_decoding_1h.json"]}),
    Section("backbone_probe", "Denoiser backbones, same budget",
            "The default network (one bidirectional GRU layer of width 128) against a "
            "transformer over time (two adaLN-Zero blocks of attention and a per-step MLP) and "
            "a hybrid (the BiGRU followed by the two blocks); `benchmarks/backbone_probe.py` "
            "swaps the network inside the denoiser and keeps everything else. Step-bounded "
            "fits (passes from each backbone's speed on two idle threads), scored against the "
            "training patients.",
            backbone_table,
            before={"commit": "e7deb2b", "date": "2026-11-30",
                    "model": "single stage (the default then)",
                    "remake": ["python benchmarks/backbone_probe.py --backbone bigru --epochs 85",
                               "python benchmarks/backbone_probe.py --backbone transformer "
                               "--layers 2 --epochs 72",
                               "python benchmarks/backbone_probe.py --backbone hybrid "
                               "--epochs 47"]}),
    Section("robustness_memory", "Memory under large, extreme and hostile inputs",
            "One fresh process per case (hidden size 16, 50 PhysioNet patients): peak "
            "resident memory above the process after its imports. Targets: sampling memory "
            "independent of `steps`; training memory linear in the longest stay; no hostile "
            "model file above 2x the extra memory of loading the honest one.",
            robustness_table,
            before={"commit": "5b3bfe3", "date": "2026-11-30",
                    "remake": ["python benchmarks/robustness_memory.py --steps 100 1000 10000"]}),
    Section("memory_scaling", "Memory against the longest stay",
            "Fifty PhysioNet stays of 8 hours and one stay of 48 to 6,000 hours, the other "
            "stays fixed; one fresh process fits, another samples from the saved model. "
            "Targets: training and sampling memory grow with the rows, not with patients x "
            "the longest stay; the 6,000-hour case under 1.5 GB. Batches are padded to their "
            "own longest stay and split into groups of similar length when padding would "
            "exceed twice their rows; sampling groups the drawn lengths alike."),
    Section("scale", "Scale on one machine",
            "Fit and sample at 10x and 33x the headline cohort: the 8,000 bundled stays "
            "(sets a and b), then stays drawn by the default model as a stand-in for a "
            "hospital export. Targets: peak memory with a stated slope per 1,000 stays, "
            "training throughput per patient flat in n, no copy of the cohort per epoch, "
            "and `sample_to_parquet` of 1,000,000 patients with flat memory.",
            write_docs_of("scale")),
    Section("data_layer", "Data layer on all of set a",
            "`SequencePreprocessor` on all 4,000 patients of set a: seconds per stage and the "
            "round trip `inverse_transform(transform(df))`.",
            write_docs_of("data_layer"),
            before={"commit": "e58d57c", "date": "2026-11-24",
                    "remake": ["python benchmarks/data_layer.py"]}),
]


def results_of(section, folder, fallback=None):
    """The result dicts a section reads (None where a file is missing)."""
    files = ([f for _, f in BACKBONES] if section.name == "backbone_probe"
             else [f"{section.name}.json"])
    found = []
    for file in files:
        path = Path(folder) / file
        if not path.exists() and fallback is not None:
            path = Path(fallback) / file
        found.append(json.loads(path.read_text()) if path.exists() else None)
    return found


def runs_of(section):
    """The full-run commands that write a section's results."""
    files = ({f for _, f in BACKBONES} if section.name == "backbone_probe"
             else {f"{section.name}.json"})
    return [run for run in RUNS if run.output in files]


def command_text(args):
    return " ".join(["python", *args])


def machine_text(machine):
    if not machine:
        return "not recorded"
    text = (f"{machine.get('cpus', '?')} CPU cores ({machine.get('processor', '?')}), torch "
            f"{machine.get('torch', '?')} with {C.thread_words(machine.get('torch_threads', '?'))}")
    load = machine.get("load_average_1m_at_end")
    return text + (f", load average {load:.1f} at the end" if load is not None else "")


def provenance_lines(section, results, block):
    """Which commit, machine and model made a section's figures, and how to make them again."""
    present = [r for r in results if r is not None]
    first = present[0] if present else {}
    machine = "" if "CPU cores" in "\n".join(block) else (
        f" on {machine_text(first['machine'])}" if first.get("machine")
        else "; machine not recorded")
    if not present:
        lines = []
    elif first.get("commit"):
        lines = [f"* Measured at commit `{first['commit']}` ({first.get('date', '?')}){machine}."]
    else:
        before = section.before
        model = f"; model: {before['model']}" if before.get("model") else ""
        lines = [f"* Measured at commit `{before.get('commit', '?')}` "
                 f"({before.get('date', '?')}){machine}{model}."]
        if before.get("remake"):
            lines.append(f"* Remake: `git checkout {before['commit']}`, then "
                         + "; ".join(f"`{c}`" for c in before["remake"]) + ".")
    runs = runs_of(section)
    if runs:
        lines.append("* On today's default: " + "; ".join(f"`{command_text(r.full)}`"
                                                           for r in runs)
                     + " (part of `python benchmarks/run_all.py`).")
    return lines


def section_lines(section, folder, fallback=None):
    results = results_of(section, folder, fallback)
    lines = ["#" * section.level + " " + section.title, "",
             textwrap.fill(section.about, 96, break_on_hyphens=False), "",
             f"<!-- {section.name}:start -->"]
    block = []
    if all(r is None for r in results):
        block.append("Not measured yet.")
    else:
        render = section.render or write_docs_of(section.name)
        if section.name == "backbone_probe":
            block += render(results, section.name)
        else:
            block += render(results[0], section.name)
        image = IMAGES / f"{section.name}.png"
        if image.exists() and f"img/benchmarks/{image.name}" not in "\n".join(block):
            block += ["", f"![{section.title}](img/benchmarks/{image.name})"]
    lines += [*block, f"<!-- {section.name}:end -->", "",
              *provenance_lines(section, results, block), ""]
    return lines


# ----------------------------------------------------------------------------- design choices


def design_choices(path=DESIGN_CHOICES):
    return json.loads(Path(path).read_text())


def expand(command, definitions):
    """A command with its ``$NAME`` abbreviations written out."""
    for name, value in definitions.items():
        command = command.replace(f"${name}", value)
    return command


def choice_command(row):
    """The command cell of a design-choice row."""
    parts = []
    for step in row["commands"]:
        runs = " against ".join(f"`{c}`" for c in step["run"])
        if step.get("commit"):
            runs = f"`git checkout {step['commit']}`, then {runs}"
        if step.get("note"):
            runs += f" ({step['note']})"
        parts.append(runs)
    return "; ".join(parts)


def design_lines(data):
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines = ["## Design choices", "", textwrap.fill(data["about"], 96), ""]
    for name, value in data["definitions"].items():
        lines.append(f"* `${name}` stands for `{value}`.")
    lines += ["", "| choice | measured pair | command |", "|---|---|---|"]
    for row in data["rows"]:
        lines.append(f"| {cell(row['choice'])} | {cell(row['evidence'])} | "
                     f"{cell(choice_command(row))} |")
    return lines


# ----------------------------------------------------------------------------- the page

INTRO = """# Benchmarks

What cdmtehr's default model achieves on PhysioNet 2012 (bundled with the package), how fast
it is on a CPU, what it gives away, and the measured evidence behind each design choice.
Scores are defined in [report.md](report.md); "real vs real" scores one random part of the
real data against another and is the floor a generator can reach at that cohort size.

Every figure comes from a result file in `benchmarks/results/`; this page is rendered from
them, and only from them, by `benchmarks/run_all.py`. Each section gives the command that
made its figures, the machine, and the commit. One command re-runs every section on today's
default and rewrites the page:

```bash
python benchmarks/run_all.py            # every script at its documented settings (hours)
python benchmarks/run_all.py --quick    # every quick mode, to benchmarks/results/quick/ (minutes)
python benchmarks/run_all.py --render-only   # the page again from the saved results
```

A section measured at an older commit says so, with that commit's model and the commands that
remake its figures on a checkout of it. Sequence scores of sections measured before
2026-12-06 come from an earlier, weaker sequence discriminator (a GRU of 32 units reading its
last hidden state after 8 epochs, against the training patients); today's (64 units, pooled
by mean and max, early stopping, on values and masks and on masks alone, against the unseen
patients) tells the same models from real patients far more easily.
[benchmarks/README.md](../benchmarks/README.md) says how to set up and run the scripts.
"""


def render(folder=C.RESULTS, fallback=None, choices=DESIGN_CHOICES) -> str:
    """The whole page from the result files of `folder` (then `fallback`)."""
    lines = [INTRO.rstrip(), ""]
    for section in SECTIONS:
        lines += section_lines(section, folder, fallback)
    lines += design_lines(design_choices(choices))
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- running


def run(args, quick, env):
    """Run one command from the repository root; False if it failed."""
    print(f"[run_all] {command_text(args)}", flush=True)
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env)
    if done.returncode != 0:
        print(f"[run_all] FAILED ({done.returncode}): {command_text(args)}", flush=True)
    return done.returncode == 0


def run_all(quick: bool, only=None) -> list:
    """Every `RUNS` command in order (quick: its quick form); the commands that failed."""
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    failed, done_quick = [], set()
    for spec in RUNS:
        name = Path(spec.full[0]).stem
        if only and name not in only:
            continue
        if quick:
            if spec.quick is None:
                print(f"[run_all] no quick run of {command_text(spec.full)}: {spec.why}")
                continue
            args = list(spec.quick)
            if spec.output:
                output = C.QUICK_RESULTS / spec.output
                if output in done_quick:
                    continue
                args += ["--output", str(output.relative_to(ROOT))]
                done_quick.add(output)
        else:
            args = list(spec.full)
        if not run(args, quick, env):
            failed.append(command_text(args))
            continue
        target = (C.QUICK_RESULTS if quick else C.RESULTS) / spec.output if spec.output else None
        if target is not None and target.exists():  # scripts that do not stamp their results
            result = json.loads(target.read_text())
            stamped = C.stamp(dict(result), command_text(args))
            if stamped != result:
                target.write_text(json.dumps(stamped, indent=2))
    return failed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="every quick mode (results/quick/), page to results/quick/benchmarks.md")
    mode.add_argument("--render-only", action="store_true",
                      help="rewrite docs/benchmarks.md from the saved results; run nothing")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 if docs/benchmarks.md differs from the rendered page")
    p.add_argument("--only", nargs="+", metavar="SCRIPT",
                   help="run only these scripts (names without .py); the page is rendered whole")
    args = p.parse_args(argv)

    if args.check:
        same = C.DOCS.read_text() == render()
        print("docs/benchmarks.md is up to date" if same else
              "docs/benchmarks.md differs from its results: python benchmarks/run_all.py "
              "--render-only")
        return 0 if same else 1
    failed = [] if args.render_only else run_all(args.quick, args.only)
    if args.quick:
        page = render(C.QUICK_RESULTS, fallback=C.RESULTS).replace(
            "# Benchmarks\n", "# Benchmarks\n\n**Quick run: its figures are a smoke test and mean "
            "nothing.**\n", 1)
        QUICK_PAGE.write_text(page)
        print(f"[run_all] quick page (never the docs): {QUICK_PAGE}")
    else:
        C.DOCS.write_text(render())
        print(f"[run_all] rewrote {C.DOCS}")
    for command in failed:
        print(f"[run_all] failed: {command}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
