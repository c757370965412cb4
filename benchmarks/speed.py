"""Benchmark: speed and memory of cdmtehr on the CPU.

One CDMTSynthesizer (defaults, ``max_time=B``, no epoch limit; or the model of a full
run saved with ``--save-model`` and reused with ``--model FILE``) is fitted on the 3,000
training patients of PhysioNet 2012 set a, then:

* **training throughput**: patients per second of the training loop;
* **sampling**: ms per patient at `sample`'s default settings (8 steps of DPM-Solver++(2M);
  ``--steps``/``--sampler`` choose others) for several ``sample_batch_size`` values
  (the whole ``sample`` call, and the part spent in the denoiser, timed with forward hooks);
* **achieved GFLOP/s** of the sampler: FLOPs of one denoiser forward counted with
  ``torch.utils.flop_counter.FlopCounterMode`` (matrix products only: GRU, linear layers;
  element-wise work is not counted), times the evaluations, divided by the denoiser's time;
  next to the machine's ceiling, the GFLOP/s of a large float32 ``torch.matmul`` with the
  same threads;
* **memory**: peak RSS of this process (``resource.getrusage``) after loading, fitting and
  sampling, and the peak of ``tracemalloc`` during the largest sampling run (Python objects
  and numpy buffers; torch's own CPU allocations are not traced, RSS covers them);
* **streaming memory**: peak RSS of ``sample_to_parquet`` at n, 10 n and 100 n patients, each
  in a fresh process (_stream_child.py; a process that only loads the model is the baseline),
  with small chunks so that flat memory shows early.

Writes ``benchmarks/results/speed.json`` and the ``speed`` section of docs/benchmarks.md.

    python benchmarks/speed.py --max-time 120
    python benchmarks/speed.py --quick
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

import _common as C
from cdmtehr.sampling.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS

NAME = "speed"


class DenoiserTimer:
    """Wall time spent inside a module's forward (forward pre- and post-hooks)."""

    def __init__(self, module):
        self.seconds, self.calls, self._start = 0.0, 0, None
        self._handles = [module.register_forward_pre_hook(self._pre),
                         module.register_forward_hook(self._post)]

    def _pre(self, module, inputs):
        self._start = time.perf_counter()

    def _post(self, module, inputs, output):
        self.seconds += time.perf_counter() - self._start
        self.calls += 1

    def close(self):
        for handle in self._handles:
            handle.remove()


def flops_per_patient(synth, batch: int = 16) -> float:
    """Counted FLOPs of one denoiser evaluation, per patient."""
    model = synth.model_
    sigma = model.expand_sigma(synth.schedule_.sigma_grid(50)[25].float())
    x = torch.randn(batch, synth.layout_.size)
    condition = torch.zeros(batch, dtype=torch.long)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x, sigma, condition)
    return counter.get_total_flops() / batch


def matmul_gflops(size: int, min_seconds: float = 1.0) -> float:
    """GFLOP/s of a float32 size x size matmul (2 size^3 FLOPs), best of repeated runs."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)  # warm-up
    best, total, start = float("inf"), 0.0, time.perf_counter()
    while total < min_seconds or best == float("inf"):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        elapsed = time.perf_counter() - t0
        best = min(best, elapsed)
        total = time.perf_counter() - start
    return 2 * size**3 / best / 1e9


def stream(model_path, n, args, tmp) -> dict:
    """Peak RSS of sample_to_parquet(n) in a fresh process."""
    cmd = [sys.executable, str(Path(__file__).with_name("_stream_child.py")),
           "--model", str(model_path), "-n", str(n), "--out", str(Path(tmp) / f"s{n}.parquet"),
           "--steps", str(args.stream_steps), "--chunk-size", str(args.stream_chunk_size),
           "--sample-batch-size", str(args.stream_batch_size), "--seed", str(args.seed)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"streaming child failed for n={n}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0], max_time=120.0)
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--sampler", default=DEFAULT_SAMPLER)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64, 256, 512, 1024, 4096])
    p.add_argument("--min-patients", type=int, default=256,
                   help="patients sampled per batch size at least (default %(default)s)")
    p.add_argument("--matmul-size", type=int, default=2048)
    p.add_argument("--stream-n", type=int, default=500, help="n of n, 10n, 100n")
    p.add_argument("--stream-steps", type=int, default=DEFAULT_STEPS,
                   help="sampler steps when streaming (memory does not depend on them)")
    p.add_argument("--stream-batch-size", type=int, default=256)
    p.add_argument("--stream-chunk-size", type=int, default=512)
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    if args.quick:
        args.steps, args.batch_sizes, args.min_patients = 3, [1, 8, 32], 16
        args.matmul_size = 256
        args.stream_n, args.stream_steps = 10, 2
        args.stream_batch_size, args.stream_chunk_size = 8, 16

    train, _, roles = C.load_split(args.quick, args.seed)
    rss = {"after_load_mb": C.peak_rss_mb()}
    synth = C.default_model(args, train, roles, "speed")
    rss["after_fit_mb" if not args.model else "after_model_load_mb"] = C.peak_rss_mb()
    training = C.training_summary(synth.history_, synth.batch_size, synth.n_patients_,
                                  synth.fit_seconds_)

    flops = flops_per_patient(synth)
    ceiling = matmul_gflops(args.matmul_size)
    runs, rows = [], []
    largest = max(args.batch_sizes)
    for batch in args.batch_sizes:
        synth.set_params(sample_batch_size=batch)
        n = max(batch, args.min_patients)
        timer = DenoiserTimer(synth.model_)
        start = time.perf_counter()
        synth.sample(n, steps=args.steps, sampler=args.sampler, random_state=args.seed)
        seconds = time.perf_counter() - start
        timer.close()
        evaluations = timer.calls // -(-n // batch)
        gflop = flops * evaluations * n / 1e9
        run = {
            "sample_batch_size": batch, "patients": n, "steps": args.steps,
            "sampler": args.sampler,
            "evaluations": evaluations, "seconds": seconds, "denoiser_seconds": timer.seconds,
            "ms_per_patient": 1000 * seconds / n,
            "denoiser_ms_per_patient": 1000 * timer.seconds / n,
            "gflops_per_second": gflop / timer.seconds,
            "share_of_matmul_ceiling": gflop / timer.seconds / ceiling,
        }
        runs.append(run)
        rows.append([batch, n, run["ms_per_patient"], run["denoiser_ms_per_patient"],
                     run["gflops_per_second"], 100 * run["share_of_matmul_ceiling"]])
        print(f"[speed] batch {batch}: {run['ms_per_patient']:.2f} ms/patient, "
              f"{run['gflops_per_second']:.2f} GFLOP/s", flush=True)
    rss["after_sampling_mb"] = C.peak_rss_mb()
    # tracemalloc slows Python allocations: trace a separate, untimed run at the largest
    # batch (2 steps: the Python-side peak is in decoding, not in the steps).
    synth.set_params(sample_batch_size=largest)
    tracemalloc.start()
    synth.sample(max(largest, args.min_patients), steps=2, random_state=args.seed)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    table = pd.DataFrame(rows, columns=["sample_batch_size", "patients", "ms_per_patient",
                                        "denoiser_ms_per_patient", "GFLOP/s",
                                        "%_of_matmul_ceiling"])

    streaming = []
    with tempfile.TemporaryDirectory(prefix="cdmtehr-speed-") as tmp:
        model_path = Path(tmp) / "model.cdmt"
        synth.set_params(sample_batch_size=args.stream_batch_size)
        synth.save(model_path)
        for n in (0, args.stream_n, 10 * args.stream_n, 100 * args.stream_n):
            streaming.append(stream(model_path, n, args, tmp))
            print(f"[speed] sample_to_parquet n={n}: peak RSS "
                  f"{streaming[-1]['peak_rss_mb']:.0f} MB", flush=True)
    stream_table = pd.DataFrame(
        [[s["n"] or "load only", s["peak_rss_mb"], s["seconds"], s["rows"], s["file_mb"]]
         for s in streaming],
        columns=["patients", "peak_RSS_MB", "seconds", "rows", "file_MB"])

    result = {
        "command": C.command(),
        "quick": args.quick,
        "machine": C.machine(),
        "budget_seconds": args.max_time,
        "training": training,
        "model": {"hidden_size": synth.hidden_size, "num_layers": synth.num_layers,
                  "batch_size": synth.batch_size, "state_size": synth.layout_.size,
                  "parameters": sum(q.numel() for q in synth.model_.parameters())},
        "flops_per_patient_per_evaluation": flops,
        "matmul": {"size": args.matmul_size, "gflops_per_second": ceiling},
        "sampling": runs,
        "rss_mb": rss,
        "tracemalloc_peak_mb": {"sample_batch_size": largest, "peak_mb": traced_peak},
        "streaming": {"steps": args.stream_steps, "sample_batch_size": args.stream_batch_size,
                      "chunk_size": args.stream_chunk_size, "runs": streaming},
        "tables": {"sampling": C.table_to_json(table),
                   "streaming": C.table_to_json(stream_table)},
    }
    path = C.save_result(NAME, result, args.quick, args.output)
    print(f"training: {training['patients_per_second']:.0f} patients/s "
          f"({training['optimizer_steps']} steps of {synth.batch_size} in "
          f"{training['train_loop_seconds']:.1f} s)")
    print(f"denoiser: {flops / 1e6:.2f} MFLOP per patient per evaluation; matmul ceiling "
          f"{ceiling:.1f} GFLOP/s ({args.matmul_size}x{args.matmul_size} float32, "
          f"{torch.get_num_threads()} threads)")
    print(f"sampling at {args.steps} {args.sampler} steps:")
    C.print_table(table, digits=2)
    print("peak RSS of this process (MB): "
          + ", ".join(f"{k.replace('_mb', '')} {v:.0f}" for k, v in rss.items())
          + f"; tracemalloc peak while sampling at batch {largest}: "
          f"{traced_peak:.1f} MB (Python objects and numpy buffers, not torch's)")
    print(f"streaming sample_to_parquet ({args.stream_steps} steps, chunks of "
          f"{args.stream_batch_size}, row groups of {args.stream_chunk_size}), fresh process each:")
    C.print_table(stream_table, digits=1)
    print(f"results: {path}")
    if not args.quick:
        write_docs(result)
    return result


def write_docs(result, docs=None):
    """Rewrite the speed section of docs/benchmarks.md from a result dict."""
    table = C.table_from_json(result["tables"]["sampling"])
    stream_table = C.table_from_json(result["tables"]["streaming"])
    t, m = result["training"], result["model"]
    s = result["streaming"]
    fitted = "after_fit_mb" in result["rss_mb"]
    rss_first = result["rss_mb"]["after_fit_mb" if fitted else "after_model_load_mb"]
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"* Training: {t['patients_per_second']:.0f} patients/s ({t['optimizer_steps']} "
        f"optimizer steps of {m['batch_size']} in {t['train_loop_seconds']:.0f} s; hidden size "
        f"{m['hidden_size']}, {m['num_layers']} BiGRU layer{'s' if m['num_layers'] != 1 else ''}, "
        f"{m['parameters']:,} parameters).",
        f"* Denoiser: {result['flops_per_patient_per_evaluation'] / 1e6:.2f} MFLOP per patient "
        "per evaluation (matrix products, FlopCounterMode); matmul ceiling "
        f"{result['matmul']['gflops_per_second']:.1f} GFLOP/s "
        f"({result['matmul']['size']}² float32).",
        f"* Peak RSS: {rss_first:.0f} MB after {'fitting' if fitted else 'loading the model'}, "
        f"{result['rss_mb']['after_sampling_mb']:.0f} MB after sampling; tracemalloc peak "
        f"{result['tracemalloc_peak_mb']['peak_mb']:.0f} MB while sampling in chunks of "
        f"{result['tracemalloc_peak_mb']['sample_batch_size']} (Python objects and numpy "
        "buffers; torch's own allocations are in RSS only).",
        "",
        f"Sampling, {result['sampling'][0]['steps']} "
        f"{result['sampling'][0].get('sampler', 'euler')} steps, by `sample_batch_size`:",
        "",
        *C.markdown_table(table, digits=2),
        "",
        f"Streaming `sample_to_parquet` ({s['steps']} steps, chunks of {s['sample_batch_size']}, "
        f"row groups of {s['chunk_size']} patients), each n in a fresh process:",
        "",
        *C.markdown_table(stream_table, digits=1),
    ]
    C.update_docs(NAME, "Speed and memory on the CPU", lines, docs)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
