"""Shared plumbing of the benchmark scripts (data split, quick mode, results, docs).

Every script is run as ``python benchmarks/<name>.py`` from the repository root, so this
module and ``physionet_cpu`` import as top-level modules.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cdmtehr.datasets import load_physionet2012
from cdmtehr.disclosure import MIN_PATIENTS, rare_levels
from cdmtehr.evaluation import evaluate, patient_features
from cdmtehr.sampling.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS
from physionet_cpu import command_line, split_by_patient

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
QUICK_RESULTS = RESULTS / "quick"
DOCS = HERE.parent / "docs" / "benchmarks.md"

N_TRAIN, N_TEST = 3000, 1000
# --quick: a smoke test of the whole pipeline, not a measurement.
QUICK = {"n_train": 40, "n_test": 20, "n": 20, "epochs": 1, "hidden_size": 8}

HEADLINE = ["disc_auroc", "ks_mean", "missing_rate_diff", "tstr_trtr_auroc_ratio", "dcr_ratio"]
FIDELITY = ["disc_auroc", "ks_mean", "missing_rate_diff"]


def parser(description: str, max_time: float = 600.0, n: int = 1000) -> argparse.ArgumentParser:
    """The arguments every script shares: --quick, --max-time, --seed, -n, --output."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: %d/%d patients, epochs=1, hidden_size=8, few steps; "
                        "writes to benchmarks/results/quick/, never to docs"
                        % (QUICK["n_train"], QUICK["n_test"]))
    p.add_argument("--max-time", type=float, default=max_time,
                   help="training budget in seconds per model (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-n", type=int, default=n, help="synthetic patients per score")
    p.add_argument("--output", default=None, help="JSON path (default benchmarks/results/)")
    p.add_argument("--model", default=None, metavar="FILE",
                   help="reuse the default model saved by a full run's --save-model (same "
                        "--seed, so the same training patients) instead of fitting one")
    p.add_argument("--save-model", default=None, metavar="FILE",
                   help="write the fitted default model here (CDMTSynthesizer.save)")
    p.add_argument("--docs-from", default=None, metavar="JSON",
                   help="only rewrite this script's section of docs/benchmarks.md from a "
                        "results file of a full run, then exit")
    return p


SAMPLER_NAMES = {"euler": "Euler", "heun": "Heun", "sde": "SDE", "dpmpp_2m": "DPM-Solver++(2M)"}


def add_sampling_arguments(p, steps: int = DEFAULT_STEPS, sampler: str = DEFAULT_SAMPLER):
    """--steps and --sampler, by default `sample`'s own settings."""
    p.add_argument("--steps", type=int, default=steps,
                   help="sampling steps (default %(default)s)")
    p.add_argument("--sampler", default=sampler, choices=sorted(SAMPLERS),
                   help="sampler (default %(default)s)")


def sampling_words(result: dict) -> str:
    """How a result sampled, in words: '8 steps of DPM-Solver++(2M)', '50 Euler steps'.

    Results saved before the sampler was recorded sampled with Euler, `sample`'s default then.
    """
    sampler = result.get("sampler", "euler")
    if sampler == "euler":
        return f"{result['steps']} Euler steps"
    return f"{result['steps']} steps of {SAMPLER_NAMES.get(sampler, sampler)}"


def docs_from(path, write_docs) -> dict:
    """Rewrite a docs section from a saved full-run result (``--docs-from``)."""
    result = json.loads(Path(path).read_text())
    if result.get("quick"):
        raise SystemExit(f"{path} is a --quick result; quick figures never go into the docs.")
    write_docs(result)
    print(f"rewrote the section in {DOCS} from {path}")
    return result


def command(args_list=None) -> str:
    """The command line that ran this script, for the docs."""
    return command_line(sys.argv if args_list is None else args_list)


def load_split(quick: bool, seed: int, part: str = "a", prepare=None):
    """PhysioNet 2012 set a split by patient: 3000 train / 1000 test (quick: 40 / 20).

    The split is `physionet_cpu.split_by_patient` with the same seed, so every benchmark
    scores against the same unseen patients as the headline benchmark. `part` chooses the
    bundled set (``"b"``: set b, split the same way); `prepare(df, roles)`, if given, changes
    the whole set before the split (a patient keeps its place in the split as long as it
    keeps a row).
    """
    df, roles = load_physionet2012(part=part, return_roles=True)
    if prepare is not None:
        df = prepare(df, roles)
    n_train, n_test = (QUICK["n_train"], QUICK["n_test"]) if quick else (N_TRAIN, N_TEST)
    train, test = split_by_patient(df, roles["id_col"], n_train, seed)
    keep = test[roles["id_col"]].drop_duplicates().to_numpy()[:n_test]
    test = test[test[roles["id_col"]].isin(keep)].reset_index(drop=True)
    if quick:  # a few dozen patients may not measure a rare variable (e.g. Cholesterol)
        thin = thin_columns(train, roles)
        roles = without_columns(roles, thin)
        train, test = train.drop(columns=thin), test.drop(columns=thin)
    return train, test, roles


def thin_columns(df, roles) -> list:
    """Columns that a fitted model refuses for these patients, so quick runs leave them out:
    numeric ones that fewer than `cdmtehr.disclosure.MIN_PATIENTS` patients measure, and
    categorical ones (the condition aside) with a level that fewer patients have."""
    patients = df[roles["id_col"]]
    measured = df[roles["num_cols"]].notna().groupby(patients).any().sum()
    thin = [c for c in roles["num_cols"] if measured[c] < MIN_PATIENTS]
    categorical = [c for c in [*(roles.get("cat_cols") or []), *(roles.get("static_cols") or [])]
                   if c not in roles["num_cols"] and not pd.api.types.is_numeric_dtype(df[c])]
    thin += [c for c in dict.fromkeys(categorical) if rare_levels(df[c], patients, MIN_PATIENTS)]
    return thin


def without_columns(roles, columns) -> dict:
    """`roles` with `columns` taken out of every list of columns."""
    drop = set(columns)
    return {k: [c for c in v if c not in drop] if isinstance(v, list) else v
            for k, v in roles.items()}


def default_model(args, train, roles, tag: str):
    """The default CDMTSynthesizer with ``max_time=args.max_time``: loaded from ``--model``
    or fitted (and written to ``--save-model``).

    A loaded model must have been fitted on exactly these training patients, which the saved
    history cannot prove; its patient count is checked and the file named in the results.
    """
    from cdmtehr import CDMTSynthesizer

    if getattr(args, "model", None):
        print(f"[{tag}] loading {args.model} (no fit)", flush=True)
        synth = CDMTSynthesizer.load(args.model)
        n_train = train[roles["id_col"]].nunique()
        if synth.n_patients_ != n_train:
            raise SystemExit(f"{args.model} was fitted on {synth.n_patients_} patients, "
                             f"not the {n_train} training patients of this split")
        return synth
    params = model_params(args.quick)
    synth = CDMTSynthesizer(max_time=args.max_time, epochs=params.pop("epochs", None),
                            random_state=args.seed, **params)
    print(f"[{tag}] fitting for up to {args.max_time:g} s ...", flush=True)
    synth.fit(train, **roles)
    if getattr(args, "save_model", None):
        Path(args.save_model).parent.mkdir(parents=True, exist_ok=True)
        synth.save(args.save_model)
    return synth


def model_params(quick: bool) -> dict:
    """CDMTSynthesizer / DDPM overrides of quick mode (none in a real run)."""
    return {"epochs": QUICK["epochs"], "hidden_size": QUICK["hidden_size"]} if quick else {}


def machine() -> dict:
    """What ran the benchmark; the load average tells whether the machine was shared."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_1m_at_end": os.getloadavg()[0],
    }


def thread_words(threads) -> str:
    """'1 thread', '2 threads'."""
    return f"{threads} thread{'' if threads == 1 else 's'}"


def machine_line(m: dict) -> str:
    """One sentence describing the machine, for the docs."""
    return (f"{m['cpus']} CPU cores ({m['processor']}), torch {m['torch']} with "
            f"{thread_words(m['torch_threads'])}, load average "
            f"{m['load_average_1m_at_end']:.1f} at the end of the run")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux's VmHWM (/proc/self/status) belongs to this process's own address space.
    ``ru_maxrss`` is the fallback elsewhere; on Linux it would carry over the parent's RSS
    at spawn (Python starts children with vfork, and the high-water mark survives exec).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def numbers_only(scores: dict) -> dict:
    """The float scores of an `evaluate` dict (JSON-safe)."""
    return {k: float(v) for k, v in scores.items() if isinstance(v, (int, float, np.floating))}


def to_jsonable(value):
    """Recursively turn numpy scalars and arrays into JSON types."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def provenance() -> dict:
    """The commit and the date of a run, for the docs (``commit`` is None outside git)."""
    import datetime
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"commit": commit or None,
            "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat()}


def stamp(result: dict, command_text=None) -> dict:
    """`result` with ``command``, ``machine``, ``commit`` and ``date`` (kept where present)."""
    if command_text is not None:
        result.setdefault("command", command_text)
    if "machine" not in result:
        result["machine"] = machine()
    for key, value in provenance().items():
        result.setdefault(key, value)
    return result


def temporal_numeric(roles) -> list:
    """The numeric columns of `roles` that change over a stay (not statics)."""
    return [c for c in roles["num_cols"] if c not in (roles.get("static_cols") or [])]


def sampled_model_result(args, synth) -> dict:
    """What every result of a script that samples one default model starts with: the
    command, the machine, the model file and its optimizer steps, and how it sampled."""
    steps = int(synth.get_loss_values()["steps"].iloc[-1])
    return {"command": command(), "machine": machine(), "quick": args.quick,
            "model": args.model, "optimizer_steps": steps, "steps": args.steps,
            "sampler": args.sampler}


def finish(name: str, result: dict, args, write_docs) -> Path:
    """Save `result` (`save_result`) and, for a full run to the default path, rewrite the
    script's docs section with `write_docs`."""
    path = save_result(name, result, args.quick, args.output)
    print(f"wrote {path}")
    if not args.quick and args.output is None:
        write_docs(result)
    return path


def save_result(name: str, result: dict, quick: bool, output=None) -> Path:
    """Write ``results/<name>.json`` (quick: ``results/quick/<name>.json``), stamped with the
    commit and the date of the run (`stamp`)."""
    path = Path(output) if output else (QUICK_RESULTS if quick else RESULTS) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(stamp(dict(result))), indent=2))
    return path


def fmt(value, digits: int = 3) -> str:
    """A table cell: '–' for missing values."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> list:
    """Lines of a GitHub table."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v, digits) for v in row) + " |")
    return lines


def print_table(frame: pd.DataFrame, digits: int = 3) -> None:
    """Print a table with fixed decimals and '–' for missing cells."""
    cells = frame.astype(object).apply(lambda col: col.map(lambda v: fmt(v, digits)))
    print(cells.to_string(index=False))


def table_to_json(frame: pd.DataFrame) -> dict:
    """A printed table as JSON (columns and rows), so the docs can be rebuilt from results."""
    cells = frame.astype(object).where(frame.notna(), None)
    return {"columns": list(frame.columns), "rows": to_jsonable(cells.values.tolist())}


def table_from_json(spec: dict) -> pd.DataFrame:
    """The table saved by `table_to_json` (object cells: ints stay ints, None stays missing)."""
    return pd.DataFrame(spec["rows"], columns=spec["columns"], dtype=object)


def update_docs(name: str, title: str, lines: list, path=None) -> None:
    """Replace the ``<!-- name:start -->`` .. ``<!-- name:end -->`` section of docs/benchmarks.md.

    A missing section is appended under ``## title``. Never called in quick mode.
    """
    path = Path(path) if path is not None else DOCS
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = "\n".join([start, *lines, end])
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + body + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + f"\n\n## {title}\n\n" + body + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def training_summary(history, batch_size: int, n_patients: int, fit_seconds: float) -> dict:
    """Epochs, optimizer steps and training throughput (patients/s) from a loss history.

    An epoch is ceil(n / batch_size) steps over n patients, so the patients seen are
    steps * n / ceil(n / batch_size) (exact for whole epochs).
    """
    history = pd.DataFrame(history)
    steps = int(history["steps"].iloc[-1])
    loop_seconds = float(history["seconds"].iloc[-1])
    steps_per_epoch = -(-n_patients // batch_size)
    return {
        "fit_seconds": float(fit_seconds),
        "train_loop_seconds": loop_seconds,
        "epochs": int(history["epoch"].iloc[-1]),
        "optimizer_steps": steps,
        "patients_per_second": steps * n_patients / steps_per_epoch / max(loop_seconds, 1e-9),
        "final_loss": float(history["diffusion"].iloc[-1]),
    }


def patient_feature_frames(real, synthetic, roles) -> tuple:
    """Per-patient summaries (``patient_features``) of a real and a synthetic cohort."""
    kwargs = {k: roles[k] for k in ("id_col", "time_col", "num_cols", "cat_cols")}
    kwargs["static_cols"] = [*roles["static_cols"], roles["condition_col"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return patient_features(real, **kwargs), patient_features(synthetic, **kwargs)


def within_stay_spread(real_features, synthetic_features, num_cols) -> pd.DataFrame:
    """Median over patients of each variable's within-stay sd, real and synthetic, and ratio.

    The ratio is NaN where the real median is 0 (Weight: real weights do not move in a stay).
    """
    real_sd = np.array([real_features[f"{c}__std"].median() for c in num_cols])
    synthetic_sd = np.array([synthetic_features[f"{c}__std"].median() for c in num_cols])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(real_sd > 0, synthetic_sd / real_sd, np.nan)
    return pd.DataFrame({"variable": list(num_cols), "real_sd": real_sd,
                         "synthetic_sd": synthetic_sd, "ratio": ratio})


def fidelity_and_spread(train, test, synthetic, roles, seed) -> tuple:
    """Fidelity and discriminator scores against `train`, within-stay spread against `test`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = numbers_only(evaluate(train, synthetic, **roles,
                                       metrics=("fidelity", "discriminative"),
                                       random_state=seed))
    real_features, synthetic_features = patient_feature_frames(test, synthetic, roles)
    return scores, within_stay_spread(real_features, synthetic_features, roles["num_cols"])
