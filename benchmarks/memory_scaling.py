"""Benchmark: training and sampling memory against the longest stay, the other stays fixed.

Fifty PhysioNet 2012 patients cut to their first 8 hours, plus one patient of L hourly rows
(its rows drawn with replacement), for L in `--longest` (48, 500, 2,000, 6,000). Per L, one
fresh process fits `CDMTSynthesizer` with its defaults for `--epochs` epochs (the two stages
and the tail calibration's draw included) and another loads that model and samples `-n`
patients. Each reports its peak resident memory (VmHWM) and its peak above the process
after its imports (the fit's includes building its data); training also its seconds per epoch (the epochs after the first, from
``history_``). Memory should follow the rows (about 400 + L), not patients × L.

Writes ``benchmarks/results/memory_scaling.json`` and prints the table; run_all renders the
``memory_scaling`` section of docs/benchmarks.md from it.

    python benchmarks/memory_scaling.py
    python benchmarks/memory_scaling.py --quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

import _common as C

NAME = "memory_scaling"
TITLE = "Memory against the longest stay"
SHORT_HOURS, N_SHORT = 8, 50


def cohort(longest: int, seed: int = 0):
    """`N_SHORT` PhysioNet stays of `SHORT_HOURS` hours and one of `longest` rows."""
    from cdmtehr.datasets import load_physionet2012

    df, roles = load_physionet2012(return_roles=True)
    id_col, time_col = roles["id_col"], roles["time_col"]
    ids = df[id_col].unique()[: N_SHORT + 1]
    df = df[df[id_col].isin(ids)].astype({id_col: str})
    short = df[df[id_col].isin(ids[:N_SHORT].astype(str)) & (df[time_col] < SHORT_HOURS)]
    one = df[df[id_col] == str(ids[N_SHORT])]
    long = one.sample(longest, replace=True, random_state=seed).reset_index(drop=True)
    long[time_col] = range(longest)
    data = pd.concat([short, long], ignore_index=True)
    thin = C.thin_columns(data, roles)  # a model keeps no column of fewer than 5 patients
    return data.drop(columns=thin), C.without_columns(roles, thin)


def run_case(kind: str, longest: int, model: str, epochs: int, hidden_size: int,
             n: int) -> dict:
    """Fit (and save to `model`) or sample, in this process; return its figures."""
    from cdmtehr import CDMTSynthesizer

    warnings.simplefilter("ignore")
    base = C.peak_rss_mb()
    start = time.perf_counter()
    figures = {"kind": kind, "longest": longest}
    if kind == "fit":
        data, roles = cohort(longest)
        figures["rows"] = len(data)
        synth = CDMTSynthesizer(epochs=epochs, max_time=None, hidden_size=hidden_size,
                                random_state=0).fit(data, **roles)
        seconds = [record["seconds"] for record in synth.history_]
        later = [b - a for a, b in zip(seconds, seconds[1:])] or seconds
        figures["seconds_per_epoch"] = round(sum(later) / len(later), 2)
        figures["epochs"] = len(seconds)
        synth.save(model)
    else:
        synth = CDMTSynthesizer.load(model)
        synthetic = synth.sample(n, random_state=0)
        lengths = synthetic.groupby(synth.preprocessor_.roles_.id_col).size()
        figures["longest_drawn"] = int(lengths.max())
        figures["rows_drawn"] = int(lengths.sum())
    figures["seconds"] = round(time.perf_counter() - start, 1)
    figures["peak_mb"] = round(C.peak_rss_mb(), 1)
    figures["peak_extra_mb"] = round(C.peak_rss_mb() - base, 1)
    return figures


def child(kind, longest, model, args) -> dict:
    """`run_case` in a fresh process, so that no case's peak carries into another's."""
    out = subprocess.run(
        [sys.executable, __file__, "--case", kind, str(longest), model,
         "--epochs", str(args.epochs), "--hidden-size", str(args.hidden_size), "-n", str(args.n)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(result) -> pd.DataFrame:
    """One row per longest stay: training and sampling figures side by side."""
    rows = {}
    for case in result["cases"]:
        row = rows.setdefault(case["longest"], {"longest stay (h)": case["longest"]})
        if case["kind"] == "fit":
            row["rows"] = case["rows"]
            row["fit peak (MB)"] = case["peak_mb"]
            row["fit extra peak (MB)"] = case["peak_extra_mb"]
            row["s / epoch"] = case["seconds_per_epoch"]
        else:
            row["sample peak (MB)"] = case["peak_mb"]
            row["sample extra peak (MB)"] = case["peak_extra_mb"]
            row["longest drawn (h)"] = case["longest_drawn"]
    return pd.DataFrame(list(rows.values()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke test: longest stays 48 and 100, 2 epochs, hidden_size=8, "
                        "-n 20; writes to benchmarks/results/quick/")
    p.add_argument("--longest", type=int, nargs="+", default=[48, 500, 2000, 6000])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("-n", type=int, default=200, help="patients sampled per case")
    p.add_argument("--output", default=None, help="JSON path (default benchmarks/results/)")
    p.add_argument("--docs-from", default=None, metavar="JSON",
                   help="only rewrite this script's section of docs/benchmarks.md from a "
                        "results file of a full run, then exit")
    p.add_argument("--case", nargs=3, help=argparse.SUPPRESS)  # kind longest model (child)
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    if args.case:
        kind, longest, model = args.case
        figures = run_case(kind, int(longest), model, args.epochs, args.hidden_size, args.n)
        print(json.dumps(figures))
        return figures
    if args.quick:
        args.longest, args.epochs, args.hidden_size, args.n = [48, 100], 2, 8, 20

    cases = []
    with tempfile.TemporaryDirectory() as folder:
        for longest in args.longest:
            model = str(Path(folder) / f"model_{longest}.cdmt")
            for kind in ("fit", "sample"):
                cases.append(child(kind, longest, model, args))
                print(cases[-1], flush=True)
    result = {
        "command": C.command(),
        "machine": C.machine(),
        "quick": args.quick,
        "epochs": args.epochs,
        "hidden_size": args.hidden_size,
        "n": args.n,
        "cases": cases,
    }
    C.print_table(table(result), digits=1)
    path = C.save_result(NAME, result, args.quick, args.output)
    print(f"results: {path}")
    return result


def write_docs(result, docs=None):
    """Rewrite the memory_scaling section of docs/benchmarks.md."""
    C.update_docs(NAME, TITLE, docs_lines(result), docs)


def docs_lines(result) -> list:
    """The section's lines: the command, the machine and the table."""
    return [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"{N_SHORT} stays of {SHORT_HOURS} hours and one of the longest stay; `fit` with the "
        f"defaults (hidden size {result['hidden_size']}) for {result['epochs']} epochs, then "
        f"`sample({result['n']})` from the saved model, each in a fresh process. Peak: the "
        "process's peak resident memory; extra: above the process after its imports.",
        "",
        *C.markdown_table(table(result), digits=1),
    ]


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
