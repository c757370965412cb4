"""Benchmark: fit and sample on one machine at 10x and 33x the headline cohort.

A hospital export of 30,000 or 100,000 stays is not public, so the cohorts are a stand-in:
the 8,000 bundled stays of PhysioNet 2012 (sets a and b) and then stays drawn by the default
model (fitted on the 3,000 training patients of set a; ``--model FILE`` or fitted here), each
with an id of its own. The cohort of n stays is the first n of that order; n = 3,000 is the
headline's own size.

Per n (``--sizes``: 3,000, 8,000, 30,000, 100,000, then 3,000 again to show how much the
machine's own speed drifted over the run), one fresh process reads its cohort from parquet
and fits `CDMTSynthesizer` with its defaults for ``--max-time`` seconds (the two stages and
the tail calibration's draw included). It reports:

* peak resident memory (VmHWM), and the resident memory after reading the frame (the data
  the user holds anyway); their difference is what fitting adds;
* the seconds of each phase of `fit` (encoding, the training loop, the first stage, the tail
  draw) and the peak resident memory inside each, from a trace sampled every 0.2 s;
* training throughput (patients per second of the training loop);
* the resident memory at the start and at the end of the training loop: an epoch that copied
  the cohort would show as growth between them.

Then ``sample_to_parquet(--stream)`` in a fresh process (_stream_child.py) with a trace of
its resident memory, to show that it stays flat over the whole run. ``--stream-steps``
chooses the steps of that run (default: `sample`'s own); sampling memory does not depend on
them (robustness_memory.py), so fewer steps measure the memory of a million patients sooner.

Writes ``benchmarks/results/scale.json`` and prints the tables; run_all renders the ``scale``
section of docs/benchmarks.md from it.

    python benchmarks/scale.py --model benchmarks/results/models/default_600s.cdmt
    python benchmarks/scale.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import _common as C
from _stream_child import resident_mb
from cdmtehr.sampling.samplers import DEFAULT_STEPS

NAME = "scale"
TITLE = "Scale on one machine"
DRAWN_ID_OFFSET = 10_000_000  # drawn stays get ids above every PhysioNet RecordID
TRACE_SECONDS = 0.2
QUICK_SETTINGS = {"sizes": [40, 80, 160, 40], "max_time": 20.0, "stream": 300, "stream_steps": 2}


# ----------------------------------------------------------------------------- the cohorts
def bundled_stays(quick: bool):
    """Sets a and b of PhysioNet 2012 (a's first 40 stays in quick mode), in that order."""
    from cdmtehr.datasets import load_physionet2012

    set_a, roles = load_physionet2012(part="a", return_roles=True)
    if quick:
        first = set_a[roles["id_col"]].drop_duplicates().iloc[: QUICK_SETTINGS["sizes"][0]]
        return set_a[set_a[roles["id_col"]].isin(first)].reset_index(drop=True), roles
    set_b = load_physionet2012(part="b")
    stays = pd.concat([set_a, set_b], ignore_index=True)
    categorical = set_a.select_dtypes("category").columns
    stays[categorical] = stays[categorical].astype("category")  # the sets' levels differ
    return stays, roles


def drawing_model(args, roles):
    """The default model that draws the extra stays: loaded, or fitted on the headline's
    3,000 training patients (quick: the 40 bundled stays, one epoch, hidden size 8)."""
    from cdmtehr import CDMTSynthesizer

    if args.model:
        return CDMTSynthesizer.load(args.model)
    if args.quick:
        stays, _ = bundled_stays(quick=True)
        synth = CDMTSynthesizer(epochs=1, hidden_size=8, random_state=args.seed)
        return synth.fit(stays.drop(columns=C.thin_columns(stays, roles)),
                         **C.without_columns(roles, C.thin_columns(stays, roles)))
    train, _, roles = C.load_split(False, args.seed)
    return C.default_model(args, train, roles, NAME)


def write_cohorts(args, synth, folder: Path) -> tuple:
    """One parquet file of the first n stays per n in `args.sizes`, the stays past the
    bundled ones drawn by `synth`; returns the paths by n, the roles and the seconds spent
    drawing stays."""
    stays, roles = bundled_stays(args.quick)
    id_col = roles["id_col"]
    n_bundled = stays[id_col].nunique()
    n_drawn = max(args.sizes) - n_bundled
    drawing_seconds = 0.0
    if n_drawn > 0:
        start = time.perf_counter()
        synth.sample_to_parquet(n_drawn, folder / "drawn.parquet", random_state=args.seed + 1)
        drawing_seconds = time.perf_counter() - start
        drawn = pd.read_parquet(folder / "drawn.parquet")
        # one id per drawn stay, in the order drawn, above every bundled id
        position = pd.factorize(drawn[id_col])[0]
        drawn[id_col] = (DRAWN_ID_OFFSET + position).astype(stays[id_col].dtype)
        # a quick model keeps no column of fewer than 5 patients
        unmodelled = [c for c in stays.columns if c not in drawn.columns]
        stays, roles = stays.drop(columns=unmodelled), C.without_columns(roles, unmodelled)
        categorical = stays.select_dtypes("category").columns
        stays = pd.concat([stays, drawn[stays.columns]], ignore_index=True)
        stays[categorical] = stays[categorical].astype("category")  # levels may differ
    order = pd.factorize(stays[id_col])[0]
    roles = C.without_columns(roles, C.thin_columns(stays, roles))
    paths = {}
    for n in sorted(set(args.sizes)):
        paths[n] = folder / f"cohort_{n}.parquet"
        stays[order < n][[*roles_columns(roles)]].to_parquet(paths[n], index=False)
    return paths, roles, drawing_seconds


def kept_cohorts(args, synth, folder: Path) -> tuple:
    """`write_cohorts` into ``--cohorts DIR`` (or `folder`); a DIR that already holds the
    cohorts of these sizes (or more), drawn with this seed and model, is read as it is
    (drawing takes minutes)."""
    where = Path(args.cohorts) if args.cohorts else folder
    index = where / "cohorts.json"
    wanted = {"sizes": sorted(set(args.sizes)), "seed": args.seed, "quick": args.quick,
              "model": args.model}
    if index.exists():
        kept = json.loads(index.read_text())
        same = all(kept.get(k) == wanted[k] for k in ("seed", "quick", "model"))
        if same and set(wanted["sizes"]) <= set(kept.get("sizes", [])):
            paths = {n: where / f"cohort_{n}.parquet" for n in wanted["sizes"]}
            return paths, kept["roles"], kept["drawing_seconds"]
    where.mkdir(parents=True, exist_ok=True)
    paths, roles, drawing_seconds = write_cohorts(args, synth, where)
    index.write_text(json.dumps({**wanted, "roles": roles, "drawing_seconds": drawing_seconds}))
    return paths, roles, drawing_seconds


def roles_columns(roles) -> list:
    """Every column the roles name, id and time first."""
    columns = [roles["id_col"], roles["time_col"]]
    for key in ("num_cols", "cat_cols", "static_cols", "condition_col"):
        value = roles.get(key)
        for column in ([value] if isinstance(value, str) else value or []):
            if column not in columns:
                columns.append(column)
    return columns


# ----------------------------------------------------------------------------- one fit
class MemoryTrace:
    """Resident memory of this process, sampled by a thread every `every` seconds."""

    def __init__(self, every: float = TRACE_SECONDS):
        self.every, self.samples = every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.start = time.perf_counter()
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - self.start, resident_mb()))
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter() - self.start, resident_mb()))

    def peak(self, start: float, end: float) -> float:
        """The largest sample from `start` to `end` seconds (the nearest one if none lies
        within)."""
        inside = [mb for t, mb in self.samples if start <= t <= end]
        if inside:
            return max(inside)
        return min(self.samples, key=lambda sample: abs(sample[0] - start))[1]


def timed_phases(module, names: dict, trace: MemoryTrace, phases: dict):
    """Wrap `module`'s functions so that each call records its start and end (seconds on
    `trace`'s clock) under its phase name; returns a function that undoes the wrapping."""
    originals = {}
    for attribute, phase in names.items():
        owner, _, method = attribute.rpartition(".")
        target = getattr(module, owner) if owner else module
        original = getattr(target, method)
        originals[attribute] = (target, method, original)

        def wrapper(*a, _original=original, _phase=phase, **k):
            start = time.perf_counter() - trace.start
            try:
                return _original(*a, **k)
            finally:
                phases[_phase] = (start, time.perf_counter() - trace.start)

        setattr(target, method, wrapper)

    def undo():
        for target, method, original in originals.values():
            setattr(target, method, original)

    return undo


def fit_case(path: str, roles: dict, max_time: float, quick: bool, seed: int) -> dict:
    """Fit the default synthesizer on the cohort at `path` in this process; its figures."""
    from cdmtehr import CDMTSynthesizer, _fitting
    from cdmtehr.preprocessing import SequencePreprocessor

    warnings.simplefilter("ignore")
    imported = C.peak_rss_mb()
    data = pd.read_parquet(path)
    import pyarrow

    pyarrow.default_memory_pool().release_unused()  # the frame, not arrow's read buffers
    figures = {"patients": int(data[roles["id_col"]].nunique()), "rows": len(data),
               "frame_mb": data.memory_usage(deep=True).sum() / 2**20,
               "rss_imports_mb": imported, "rss_with_data_mb": resident_mb()}
    params = {"epochs": 1, "hidden_size": 8} if quick else {}
    synth = CDMTSynthesizer(max_time=max_time, random_state=seed, **params)
    trace, phases = MemoryTrace(), {}
    undo = timed_phases(_fitting, {"SequencePreprocessor.fit_transform": "encoding",
                                   "fit_diffusion": "training",
                                   "fit_profile_stage": "first_stage",
                                   "draw_tail_calibration": "tail_draw"}, trace, phases)
    assert _fitting.SequencePreprocessor is SequencePreprocessor
    try:
        synth.fit(data, **roles)
    finally:
        undo()
        trace.stop()
    summary = C.training_summary(synth.history_, synth.batch_size, figures["patients"],
                                 synth.fit_seconds_)
    loop_seconds = summary["train_loop_seconds"]
    training = phases["training"]
    # the training loop ends with fit_diffusion; its start is loop_seconds before that
    loop_start = training[1] - loop_seconds
    window = max(loop_seconds * 0.1, 2 * TRACE_SECONDS)
    figures.update({
        "peak_rss_mb": C.peak_rss_mb(),
        **{f"{phase}_seconds": end - start for phase, (start, end) in phases.items()},
        **{f"{phase}_peak_rss_mb": trace.peak(start, end) for phase, (start, end) in phases.items()},
        **summary,
        "rss_loop_start_mb": trace.peak(loop_start, loop_start + window),
        "rss_loop_end_mb": trace.peak(training[1] - window, training[1]),
        "trace": [(round(t, 2), round(mb, 1)) for t, mb in trace.samples[:: max(1, len(trace.samples) // 400)]],
    })
    figures["fit_adds_mb"] = figures["peak_rss_mb"] - figures["rss_with_data_mb"]
    return figures


def fit_in_child(path, roles, args) -> dict:
    """`fit_case` in a fresh process, so that no case's peak carries into another's."""
    cmd = [sys.executable, __file__, "--case", str(path), json.dumps(roles),
           "--max-time", str(args.max_time), "--seed", str(args.seed)]
    if args.quick:
        cmd.append("--quick")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"fit failed on {path}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def stream_in_child(model_path, n, args, folder) -> dict:
    """sample_to_parquet(n) in a fresh process, with a trace of its resident memory."""
    cmd = [sys.executable, str(Path(__file__).with_name("_stream_child.py")),
           "--model", str(model_path), "-n", str(n), "--out", str(Path(folder) / "stream.parquet"),
           "--steps", str(args.stream_steps), "--chunk-size", str(args.stream_chunk_size),
           "--sample-batch-size", str(args.stream_batch_size), "--seed", str(args.seed),
           "--trace-seconds", str(args.trace_seconds)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"streaming child failed for n={n}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- tables
def fit_table(result) -> pd.DataFrame:
    rows = []
    for run, case in enumerate(result["fits"], start=1):
        rows.append({
            "run": run,
            "stays": case["patients"],
            "rows": case["rows"],
            "frame (MB)": case["frame_mb"],
            "RSS with data (MB)": case["rss_with_data_mb"],
            "fit peak (MB)": case["peak_rss_mb"],
            "fit adds (MB)": case["fit_adds_mb"],
            "encoding (s)": case.get("encoding_seconds", float("nan")),
            "training peak (MB)": case.get("training_peak_rss_mb", float("nan")),
            "optimizer steps": case["optimizer_steps"],
            "epochs": case["epochs"],
            "patients/s": case["patients_per_second"],
            "RSS loop start → end (MB)": f"{case['rss_loop_start_mb']:.0f} → "
                                         f"{case['rss_loop_end_mb']:.0f}",
            "first stage (s)": case.get("first_stage_seconds", float("nan")),
            "tail draw (s)": case.get("tail_draw_seconds", float("nan")),
            "fit (s)": case["fit_seconds"],
        })
    return pd.DataFrame(rows)


def slopes(result) -> dict:
    """Least-squares slopes (MB per 1,000 stays) of the fit's peak, of what fitting adds,
    and of the frame itself; and the spread of training throughput across n."""
    fits = result["fits"]
    if len(fits) < 2:
        return {}
    thousands = np.array([case["patients"] for case in fits]) / 1000
    slope = {name: float(np.polyfit(thousands, [case[key] for case in fits], 1)[0])
             for name, key in (("peak", "peak_rss_mb"), ("fit_adds", "fit_adds_mb"),
                               ("frame", "frame_mb"), ("with_data", "rss_with_data_mb"))}
    throughput = np.array([case["patients_per_second"] for case in fits])
    slope["throughput_min_over_max"] = float(throughput.min() / throughput.max())
    if len(fits) > 2 and fits[0]["patients"] == fits[-1]["patients"]:  # the first n again
        slope["repeat_throughput_ratio"] = float(throughput[-1] / throughput[0])
    return slope


def stream_table(result) -> pd.DataFrame:
    stream = result["stream"]
    trace = stream.get("trace", [])
    row = {"patients": stream["n"], "steps": result["stream_steps"],
           "seconds": stream["seconds"],
           "ms/patient": 1000 * stream["seconds"] / max(stream["n"], 1),
           "rows": stream["rows"], "file (MB)": stream["file_mb"],
           "RSS after load (MB)": stream["rss_after_load_mb"]}
    # mean resident memory over the 2nd, 5th and last tenth of the run's seconds (patients
    # come at an even pace): memory that grew with the patients written would rise across them
    for tenth, label in ((2, "2nd"), (5, "5th"), (10, "last")):
        window = [mb for seconds, mb in trace
                  if (tenth - 1) / 10 <= seconds / max(stream["seconds"], 1e-9) < tenth / 10]
        row[f"mean RSS, {label} tenth (MB)"] = (sum(window) / len(window) if window
                                                else float("nan"))
    row["peak RSS (MB)"] = stream["peak_rss_mb"]
    return pd.DataFrame([row])


# ----------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 40, 80, 160 and 40 stays, hidden size 8, one epoch, 300 patients "
                        "streamed; writes to benchmarks/results/quick/")
    p.add_argument("--sizes", type=int, nargs="+", default=[3000, 8000, 30000, 100000, 3000],
                   help="stays of each fit, in the order run (the first again at the end "
                        "shows how much the machine's speed drifted meanwhile)")
    p.add_argument("--max-time", type=float, default=240.0,
                   help="training budget of each fit (seconds)")
    p.add_argument("--model", default=None,
                   help="saved default model that draws the extra stays and is streamed from")
    p.add_argument("--stream", type=int, default=1_000_000, help="patients streamed")
    p.add_argument("--stream-steps", type=int, default=DEFAULT_STEPS,
                   help="steps of the streamed draw (default: sample's own)")
    p.add_argument("--stream-chunk-size", type=int, default=None)
    p.add_argument("--stream-batch-size", type=int, default=512)
    p.add_argument("--trace-seconds", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cohorts", default=None, metavar="DIR",
                   help="keep the cohorts here and reuse them on the next run (default: a "
                        "temporary folder)")
    p.add_argument("--cohorts-only", action="store_true",
                   help="write the cohorts (to --cohorts) and stop")
    p.add_argument("--output", default=None, help="JSON path (default benchmarks/results/)")
    p.add_argument("--docs-from", default=None, metavar="JSON",
                   help="only rewrite this script's section of docs/benchmarks.md from a "
                        "results file of a full run, then exit")
    p.add_argument("--case", nargs=2, help=argparse.SUPPRESS)  # cohort path, roles JSON
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    if args.case:
        figures = fit_case(args.case[0], json.loads(args.case[1]), args.max_time, args.quick,
                           args.seed)
        print(json.dumps(C.to_jsonable(figures)))
        return figures
    if args.quick:
        for key, value in QUICK_SETTINGS.items():
            setattr(args, key, value)
        args.trace_seconds = 0.5
    args.stream_chunk_size = args.stream_chunk_size or args.stream_batch_size

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        start = time.perf_counter()
        _, roles = bundled_stays(args.quick)
        synth = drawing_model(args, roles)
        model_path = args.model or str(folder / "drawing.cdmt")
        if not args.model:
            synth.save(model_path)
        paths, roles, drawing_seconds = kept_cohorts(args, synth, folder)
        del synth
        print(f"[{NAME}] cohorts ready in {time.perf_counter() - start:.0f} s "
              f"({drawing_seconds:.0f} s drawing stays)", flush=True)
        if args.cohorts_only:
            return {"cohorts": {str(n): str(path) for n, path in paths.items()}}
        fits = []
        for n in args.sizes:
            fits.append(fit_in_child(paths[n], roles, args))
            case = {k: v for k, v in fits[-1].items() if k != "trace"}
            print(f"[{NAME}] n={n}: {json.dumps(C.to_jsonable(case))}", flush=True)
        stream = stream_in_child(model_path, args.stream, args, folder)
    result = {
        "command": C.command(),
        "machine": C.machine(),
        "quick": args.quick,
        "max_time": args.max_time,
        "model": args.model,
        "drawing_seconds": drawing_seconds,
        "stream_steps": args.stream_steps,
        "stream_batch_size": args.stream_batch_size,
        "fits": fits,
        "slopes": slopes({"fits": fits}),
        "stream": stream,
    }
    C.print_table(fit_table(result), digits=1)
    C.print_table(stream_table(result), digits=1)
    print(json.dumps(result["slopes"], indent=1))
    path = C.save_result(NAME, C.stamp(result), args.quick, args.output)
    print(f"results: {path}")
    return result


def write_docs(result, docs=None):
    """Rewrite the scale section of docs/benchmarks.md."""
    C.update_docs(NAME, TITLE, docs_lines(result), docs)


def docs_lines(result) -> list:
    """The section's lines: the command, the machine, the two tables and the slopes."""
    slope = result["slopes"]
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"Each n fitted in a fresh process with the defaults and `max_time={result['max_time']:g}`"
        " (the two stages and the tail draw included). The frame is the long DataFrame the "
        "user holds; *fit adds* is the peak above the process with that frame loaded.",
        "",
        *C.markdown_table(fit_table(result), digits=1),
        "",
    ]
    if slope:
        lines += [
            f"* Peak memory grows by {slope['peak']:.0f} MB per 1,000 stays, of which the frame "
            f"itself {slope['frame']:.0f} MB; fitting adds {slope['fit_adds']:.0f} MB per "
            "1,000 stays.",
            f"* Training throughput: the slowest run at {slope['throughput_min_over_max']:.2f} "
            "of the fastest."
            + (f" The first n fitted again at the end ran at {slope['repeat_throughput_ratio']:.2f}"
               " of its first run: the machine's own drift." if "repeat_throughput_ratio" in slope
               else ""),
            "",
        ]
    lines += [
        f"`sample_to_parquet` in a fresh process ({result['stream_steps']} steps of "
        f"`sample`'s default sampler, chunks of {result['stream_batch_size']}):",
        "",
        *C.markdown_table(stream_table(result), digits=1),
    ]
    return lines


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
