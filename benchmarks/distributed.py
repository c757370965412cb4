"""Training under torchrun: two processes against one, at the same optimizer steps.

The default `CDMTSynthesizer` is fitted on the headline split (3,000 training patients) for a
fixed number of epochs, so every run takes the same optimizer steps:

* ``1 process``: an ordinary process, seed `--seed`;
* ``2 processes (torchrun)``: ``torchrun --standalone --nproc_per_node 2`` on the CPU (gloo),
  the same seed: each process takes half of every batch and DDP averages the gradients, so
  the model sees the same batches and takes the same steps as the single process;
* ``1 process, seed + 1``: the single process with the next seed, which shows how far two
  runs differ by their seed alone.

Each fit runs in a fresh process (or two) with ``OMP_NUM_THREADS=1`` per process. From each
model 1,000 patients are sampled (the run's seed) and scored against the unseen patients
with the four discriminators, KS and the missing-rate error. Seconds are wall-clock seconds
of the training loop on a shared machine: for information, not a comparison.

    python benchmarks/distributed.py                 # --epochs 20 (about 240 optimizer steps)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import _common as C
import pandas as pd

from cdmtehr.evaluation import evaluate

DISCRIMINATORS = ("summary", "sequence", "sequence_masks", "sequence_values")
SCORES = {f"disc_{name}_auroc": f"{label} AUROC" for name, label in
          [("summary", "summary"), ("sequence", "sequence"), ("sequence_masks", "masks"),
           ("sequence_values", "values")]}
SCORES.update({"ks_mean": "KS", "missing_rate_diff": "missing-rate error"})


def parser():
    p = C.parser(__doc__.splitlines()[0], n=1000)
    p.add_argument("--epochs", type=int, default=20,
                   help="passes over the training patients per fit (default %(default)s)")
    C.add_sampling_arguments(p)
    p.add_argument("--worker", default=None, metavar="FOLDER", help=argparse.SUPPRESS)  # one fit
    p.add_argument("--model-seed", type=int, default=None, help=argparse.SUPPRESS)
    return p


# ----------------------------------------------------------------------------- one fit


def fit_worker(args):
    """Fit one model (one rank of it under torchrun) and write it, with its training
    summary, to the folder `args.worker` (rank 0 only)."""
    import torch
    import torch.distributed as dist

    from cdmtehr import CDMTSynthesizer

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if world_size > 1 else 0
    try:
        train, _, roles = C.load_split(args.quick, args.seed)
        params = C.model_params(args.quick)
        params.pop("epochs", None)
        epochs = C.QUICK["epochs"] if args.quick else args.epochs
        synth = CDMTSynthesizer(epochs=epochs, max_time=None, random_state=args.model_seed,
                                **params)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            synth.fit(train, **roles)
        seconds = time.perf_counter() - start
        if rank == 0:
            folder = Path(args.worker)
            synth.save(folder / "model.cdmt")
            summary = C.training_summary(synth.get_loss_values(), synth.batch_size,
                                         train[roles["id_col"]].nunique(), seconds)
            summary.update(processes=world_size, torch_threads=torch.get_num_threads())
            (folder / "fit.json").write_text(json.dumps(summary))
        if world_size > 1:
            dist.barrier()  # both ranks tear gloo down together
    finally:
        if world_size > 1:
            dist.destroy_process_group()


def fit(args, processes: int, model_seed: int, folder: Path) -> dict:
    """Fit in `processes` fresh processes (torchrun when more than one); the summary."""
    folder.mkdir(parents=True, exist_ok=True)
    script = [str(Path(__file__).resolve()), "--worker", str(folder), "--seed", str(args.seed),
              "--model-seed", str(model_seed), "--epochs", str(args.epochs)]
    if args.quick:
        script.append("--quick")
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone",
                     "--nproc_per_node", str(processes)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"[distributed] fitting: {processes} process(es), seed {model_seed}", flush=True)
    subprocess.run([*launcher, *script], env=env, check=True)
    return json.loads((folder / "fit.json").read_text())


# ----------------------------------------------------------------------------- the benchmark


def run_label(processes, seed, base_seed):
    if processes > 1:
        return f"{processes} processes (torchrun)"
    return "1 process" if seed == base_seed else f"1 process, seed {seed}"


def main(argv=None):
    args = parser().parse_args(argv)
    if args.worker:
        fit_worker(args)
        return
    if args.docs_from:
        C.docs_from(args.docs_from, write_docs)
        return
    from cdmtehr import CDMTSynthesizer

    train, test, roles = C.load_split(args.quick, args.seed)
    n = C.QUICK["n"] if args.quick else args.n
    steps = 2 if args.quick else args.steps
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for processes, seed in [(1, args.seed), (2, args.seed), (1, args.seed + 1)]:
            summary = fit(args, processes, seed, Path(scratch) / f"{processes}_{seed}")
            synth = CDMTSynthesizer.load(Path(scratch) / f"{processes}_{seed}" / "model.cdmt")
            synthetic = synth.sample(n, steps=steps, sampler=args.sampler, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = evaluate(train, synthetic, test, discriminators=DISCRIMINATORS,
                                  random_state=args.seed, **roles)
            rows.append({"run": run_label(processes, seed, args.seed), "processes": processes,
                         "seed": seed, "optimizer steps": summary["optimizer_steps"],
                         "epochs": summary["epochs"],
                         "seconds": round(summary["train_loop_seconds"], 1),
                         **{label: scores.get(key) for key, label in SCORES.items()}})
            print(json.dumps(rows[-1], default=float), flush=True)
    table = pd.DataFrame(rows)
    result = {"command": C.command(), "machine": C.machine(), "quick": args.quick,
              "epochs": C.QUICK["epochs"] if args.quick else args.epochs, "n": n,
              "steps": steps, "sampler": args.sampler, "table": C.table_to_json(table)}
    C.print_table(table)
    path = C.save_result("distributed", result, args.quick, args.output)
    print(f"wrote {path}")
    if not args.quick and args.output is None:
        write_docs(result)


def write_docs(result, path=None):
    table = C.table_from_json(result["table"])
    table["seconds"] = [int(round(float(v))) for v in table["seconds"]]
    lines = [f"Command: `{result['command']}` ({result['epochs']} epochs per fit, "
             f"{result['n']:,} synthetic patients per run at {C.sampling_words(result)}; "
             f"one thread per process) — machine: {C.machine_line(result['machine'])}.", "",
             *C.markdown_table(table)]
    C.update_docs("distributed", "Training under torchrun", lines, path)


if __name__ == "__main__":
    main()
