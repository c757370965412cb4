"""Benchmark: cdmtehr against its peers under the same wall-clock training budget.

On PhysioNet 2012 set a (3,000 training / 1,000 unseen test patients, split by patient as in
physionet_cpu.py) three generators get `--max-time` seconds of training each:

* cdmtehr: ``CDMTSynthesizer`` with its defaults, ``max_time=B`` and no epoch limit (or the
  model of a full run saved with ``--save-model`` and reused with ``--model FILE``);
  sampled at `sample`'s defaults (8 steps of DPM-Solver++(2M));
* PAR: SDV's ``PARSynthesizer`` (sequence key patient_id, index hour, context columns = the
  static columns and the label), run *epoch by epoch* until the budget is spent (see
  _par_worker.py). SDV needs pandas 2.x, so PAR runs in its own virtual environment
  (``--sdv-python PATH`` or ``$CDMTEHR_SDV_PYTHON``; see benchmarks/README.md) as a
  subprocess; the two processes exchange parquet files. A full run without that python
  stops with a message (``--skip par`` runs the others); ``--quick`` skips the PAR row;
* DDPM: a discrete-time 1,000-step DDPM (cosine schedule) on the *same* backbone and loss
  (ddpm_baseline.py), sampled with 1,000 ancestral steps (TimeDiff-style).

Each generator samples `-n` patients; fit seconds (wall, preprocessing included), sampling
ms per patient and the headline scores of ``cdmtehr.evaluation.evaluate`` are reported next to
the real-vs-real floor. Writes ``benchmarks/results/peers.json`` and the ``peers`` section of
docs/benchmarks.md.

    python benchmarks/peers.py --max-time 600
    python benchmarks/peers.py --quick          # smoke test, < 1 minute
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import _common as C
from cdmtehr.evaluation import evaluate, real_vs_real
from cdmtehr.sampling.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS
from ddpm_baseline import fit_ddpm

NAME = "peers"
SDV_HELP = (
    "PAR runs in a virtual environment of its own with SDV (which pins pandas 2.x): create one "
    "with `python3 -m venv ~/.venvs/sdv && ~/.venvs/sdv/bin/pip install sdv pyarrow`, then "
    "pass --sdv-python ~/.venvs/sdv/bin/python or set CDMTEHR_SDV_PYTHON; --skip par runs "
    "the other generators without it"
)


def write_parquet(frame: pd.DataFrame, path) -> None:
    """Parquet without pandas metadata, so that pandas 2 reads what pandas 3 wrote."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path)


def like_training(synthetic: pd.DataFrame, train: pd.DataFrame, roles: dict) -> pd.DataFrame:
    """Cast a foreign generator's output to the training frame's columns and dtypes."""
    out = pd.DataFrame(index=synthetic.index)
    for column in train.columns:
        if column not in synthetic:
            out[column] = pd.Series(pd.NA, index=synthetic.index)
            continue
        values = synthetic[column]
        dtype = train[column].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            text = values.astype(object).where(values.notna(), None)
            text = text.map(lambda v: v if v is None else str(v))
            cats = dtype.categories
            out[column] = pd.Categorical(text, categories=cats)
        elif column == roles["time_col"]:
            hours = pd.to_numeric(values, errors="coerce").round()
            if hours.isna().any():  # evaluation reads rows in order; keep that order
                hours = synthetic.groupby(roles["id_col"], sort=False).cumcount()
            out[column] = hours.astype(dtype)
        elif column in (roles["id_col"], roles["condition_col"]):
            out[column] = pd.to_numeric(values, errors="coerce").round().astype(dtype)
        else:
            out[column] = pd.to_numeric(values, errors="coerce").astype(dtype)
    return out.reset_index(drop=True)


def run_cdmtehr(train, roles, args) -> tuple:
    synth = C.default_model(args, train, roles, "peers, cdmtehr")
    summary = C.training_summary(synth.history_, synth.batch_size, synth.n_patients_,
                                 synth.fit_seconds_)
    start = time.perf_counter()
    synthetic = synth.sample(args.n, steps=args.cdmtehr_steps, sampler=args.cdmtehr_sampler,
                             random_state=args.seed)
    seconds = time.perf_counter() - start
    summary.update(sampler=f"{args.cdmtehr_sampler}, {args.cdmtehr_steps} steps",
                   sample_steps=args.cdmtehr_steps,
                   sample_seconds=seconds,
                   sampling_ms_per_patient=1000 * seconds / args.n,
                   parameters=sum(p.numel() for p in synth.model_.parameters()),
                   settings={k: v for k, v in synth.get_params().items()
                             if isinstance(v, (int, float, str, type(None)))})
    return synthetic, summary


def run_ddpm(train, roles, args) -> tuple:
    params = C.model_params(args.quick)
    if args.ddpm_loss_weighting:
        params["loss_weighting"] = args.ddpm_loss_weighting
    model = fit_ddpm(train, roles, args.max_time, args.seed, **params)
    summary = C.training_summary(model.history_, model.batch_size, model.n_patients_,
                                 model.fit_seconds_)
    start = time.perf_counter()
    synthetic = model.sample(args.n, steps=args.ddpm_steps, random_state=args.seed)
    seconds = time.perf_counter() - start
    summary.update(sampler=f"ancestral DDPM, {args.ddpm_steps} steps", sample_steps=args.ddpm_steps,
                   sample_seconds=seconds,
                   sampling_ms_per_patient=1000 * seconds / args.n,
                   parameters=sum(p.numel() for p in model.model_.parameters()),
                   settings=model.settings_)
    return synthetic, summary


def sdv_python_exists(python) -> bool:
    """Whether `python` names an interpreter file (of the SDV environment)."""
    return bool(python) and Path(python).is_file()


def run_par(train, roles, args) -> tuple:
    """PAR in the SDV virtual environment; (synthetic frame, summary) or (None, note)."""
    python = args.sdv_python
    if not sdv_python_exists(python):
        return None, {"skipped": f"no SDV python ({python or 'none given'}). {SDV_HELP}"}
    worker = Path(__file__).with_name("_par_worker.py")
    with tempfile.TemporaryDirectory(prefix="cdmtehr-par-") as tmp:
        tmp = Path(tmp)
        write_parquet(train, tmp / "train.parquet")
        (tmp / "roles.json").write_text(json.dumps(roles))
        cmd = [python, str(worker), "--train", str(tmp / "train.parquet"),
               "--roles", str(tmp / "roles.json"), "--out", str(tmp / "synthetic.parquet"),
               "--info", str(tmp / "info.json"), "--max-time", str(args.max_time),
               "-n", str(args.n), "--seed", str(args.seed)]
        if args.quick:
            cmd += ["--max-epochs", str(C.QUICK["epochs"])]
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout)[-2000:]
            return None, {"skipped": f"PAR worker failed (exit {done.returncode}): {tail}"}
        info = json.loads((tmp / "info.json").read_text())
        synthetic = pq.read_table(tmp / "synthetic.parquet").to_pandas()
    info["sampler"] = "PAR autoregressive"
    info["sampling_ms_per_patient"] = 1000 * info["sample_seconds"] / args.n
    return like_training(synthetic, train, roles), info


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--sdv-python", default=os.environ.get("CDMTEHR_SDV_PYTHON"),
                   metavar="PATH",
                   help="python of a virtual environment with sdv, for the PAR row (default "
                        "$CDMTEHR_SDV_PYTHON)")
    p.add_argument("--cdmtehr-steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--cdmtehr-sampler", default=DEFAULT_SAMPLER)
    p.add_argument("--ddpm-steps", type=int, default=1000)
    p.add_argument("--ddpm-loss-weighting", choices=["uniform", "edm"], default=None,
                   help="numeric loss weighting of the DDPM (default: cdmtehr's default; "
                        "'edm' is closest to DDPM's noise-prediction loss)")
    p.add_argument("--skip", nargs="*", default=[], choices=["cdmtehr", "par", "ddpm"])
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    if not args.quick and "par" not in args.skip and not sdv_python_exists(args.sdv_python):
        p.error(f"no SDV python ({args.sdv_python or 'none given'}). {SDV_HELP}")
    if args.quick:
        args.n = C.QUICK["n"]
        args.cdmtehr_steps = min(args.cdmtehr_steps, 5)
        args.ddpm_steps = min(args.ddpm_steps, 50)  # respaced; 1000 steps take ~20 s here

    train, test, roles = C.load_split(args.quick, args.seed)
    floor = C.numbers_only(real_vs_real(pd.concat([train, test]), **roles,
                                        random_state=args.seed))
    runners = {"cdmtehr": run_cdmtehr, "PAR (SDV)": run_par, "DDPM 1000-step": run_ddpm}
    keys = {"cdmtehr": "cdmtehr", "PAR (SDV)": "par", "DDPM 1000-step": "ddpm"}
    methods, rows = {}, []
    for label, runner in runners.items():
        if keys[label] in args.skip:
            continue
        if not (label == "cdmtehr" and args.model):
            print(f"[peers] {label}: fitting for up to {args.max_time:g} s ...", flush=True)
        synthetic, summary = runner(train, roles, args)
        if synthetic is not None:
            scores = C.numbers_only(evaluate(train, synthetic, test, **roles,
                                             random_state=args.seed))
            summary["scores"] = scores
        methods[label] = summary
        scores = summary.get("scores", {})
        rows.append([label, summary.get("fit_seconds"), summary.get("epochs"),
                     summary.get("sample_steps"), summary.get("sampling_ms_per_patient"),
                     *[scores.get(k) for k in C.HEADLINE]])
        if "skipped" in summary:
            print(f"[peers] {label} skipped: {summary['skipped']}", flush=True)
    rows.append(["real vs real (floor)", None, None, None, None,
                 *[floor.get(k) for k in C.HEADLINE]])
    table = pd.DataFrame(rows, columns=["method", "fit_s", "epochs", "sample_steps",
                                        "sample_ms_per_patient", *C.HEADLINE])
    for column in ("epochs", "sample_steps"):
        table[column] = pd.array(table[column], dtype="Int64")

    result = {
        "command": C.command(),
        "quick": args.quick,
        "machine": C.machine(),
        "budget_seconds": args.max_time,
        "n_train": int(train[roles["id_col"]].nunique()),
        "n_test": int(test[roles["id_col"]].nunique()),
        "n_synthetic": args.n,
        "par_budget": "epoch by epoch (deepecho's epoch loop cut at the budget)",
        "methods": methods,
        "real_vs_real": floor,
        "peak_rss_mb": C.peak_rss_mb(),
        "table": C.table_to_json(table),
    }
    path = C.save_result(NAME, result, args.quick, args.output)
    C.print_table(table)
    print(f"PAR budget: {result['par_budget']}; results: {path}")
    if not args.quick:
        write_docs(result)
    return result


def write_docs(result, docs=None):
    """Rewrite the peers section of docs/benchmarks.md from a result dict."""
    table = C.table_from_json(result["table"])
    m = result["machine"]
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(m)}.",
        "",
        f"Each generator gets {result['budget_seconds']:g} s of training (the training loop; "
        f"`fit_s` is the whole fit, preprocessing included) on {result['n_train']} patients "
        f"and samples {result['n_synthetic']}; scores against {result['n_test']} unseen "
        "patients. `epochs` for PAR are full-batch epochs (one optimizer step each), run "
        "epoch by epoch until the budget is spent.",
        "",
        *C.markdown_table(table),
        "",
    ]
    for label, summary in result["methods"].items():
        if "skipped" in summary:
            lines.append(f"* {label}: skipped ({summary['skipped'][:200]}).")
        else:
            weighting = summary.get("settings", {}).get("loss_weighting")
            lines.append(f"* {label}: {summary['sampler']}; "
                         f"{summary.get('optimizer_steps', summary.get('epochs'))} optimizer "
                         f"steps in {summary['train_loop_seconds']:.0f} s"
                         + (f"; numeric loss weighting {weighting!r}." if weighting else "."))
    C.update_docs(NAME, "cdmtehr against PAR and a 1000-step DDPM, same budget", lines, docs)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
