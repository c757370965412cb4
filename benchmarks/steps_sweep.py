"""Benchmark: quality and sampling time against the number of sampler steps.

One CDMTSynthesizer (defaults, ``max_time=B``, no epoch limit; or the model of a full
run saved with ``--save-model`` and reused with ``--model FILE``) is fitted on the 3,000 training
patients of PhysioNet 2012 set a; then `-n` patients are sampled at 10, 25, 50, 100 and 1000
steps with each sampler (euler, heun, sde) and scored against the training patients
(disc_auroc, ks_mean, missing_rate_diff; fidelity and discrimination only). The model was
trained in continuous time, so every step count uses the same weights. Network evaluations
are counted with a forward hook on the denoiser (Heun at N steps: 2N - 1). Writes
``benchmarks/results/steps_sweep.json`` and the ``steps_sweep`` section of docs/benchmarks.md.

    python benchmarks/steps_sweep.py --max-time 600
    python benchmarks/steps_sweep.py --quick
"""

from __future__ import annotations

import sys
import time

import pandas as pd

import _common as C
from cdmtehr.evaluation import evaluate, real_vs_real

NAME = "steps_sweep"
SCORED = ("fidelity", "discriminative")


class EvaluationCounter:
    """Count the calls of a module's forward (one call = one network evaluation of a chunk)."""

    def __init__(self, module):
        self.calls = 0
        self._handle = module.register_forward_pre_hook(self._hook)

    def _hook(self, module, inputs):
        self.calls += 1

    def close(self):
        self._handle.remove()


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 100, 1000])
    p.add_argument("--samplers", nargs="+", default=["euler", "heun", "sde"],
                   choices=["euler", "heun", "sde"])
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    if args.quick:
        args.n = C.QUICK["n"]
        args.steps = [2, 4]

    train, test, roles = C.load_split(args.quick, args.seed)
    synth = C.default_model(args, train, roles, NAME)
    training = C.training_summary(synth.history_, synth.batch_size, synth.n_patients_,
                                  synth.fit_seconds_)
    floor = C.numbers_only(real_vs_real(pd.concat([train, test]), **roles, with_holdout=False,
                                        metrics=SCORED, random_state=args.seed))
    chunks = -(-args.n // synth.sample_batch_size)

    rows, runs = [], []
    for sampler in args.samplers:
        for steps in args.steps:
            counter = EvaluationCounter(synth.model_)
            start = time.perf_counter()
            synthetic = synth.sample(args.n, steps=steps, sampler=sampler,
                                     random_state=args.seed)
            seconds = time.perf_counter() - start
            counter.close()
            evaluations = counter.calls // chunks
            expected = 2 * steps - 1 if sampler == "heun" else steps
            scores = C.numbers_only(evaluate(train, synthetic, **roles, metrics=SCORED,
                                             random_state=args.seed))
            run = {"sampler": sampler, "steps": steps, "evaluations": evaluations,
                   "expected_evaluations": expected, "seconds": seconds,
                   "ms_per_patient": 1000 * seconds / args.n, "scores": scores}
            runs.append(run)
            rows.append([sampler, steps, evaluations, run["ms_per_patient"],
                         *[scores.get(k) for k in C.FIDELITY]])
            print(f"[steps_sweep] {sampler:5s} {steps:5d} steps: {evaluations} evaluations, "
                  f"{run['ms_per_patient']:.1f} ms/patient, disc_auroc "
                  f"{scores.get('disc_auroc', float('nan')):.3f}", flush=True)
    rows.append(["real vs real (floor)", None, None, None, *[floor.get(k) for k in C.FIDELITY]])
    table = pd.DataFrame(rows, columns=["sampler", "steps", "evaluations", "ms_per_patient",
                                        *C.FIDELITY])
    for column in ("steps", "evaluations"):
        table[column] = pd.array(table[column], dtype="Int64")

    result = {
        "command": C.command(),
        "quick": args.quick,
        "machine": C.machine(),
        "budget_seconds": args.max_time,
        "n_train": int(train[roles["id_col"]].nunique()),
        "n_synthetic": args.n,
        "sample_batch_size": synth.sample_batch_size,
        "training": training,
        "runs": runs,
        "real_vs_real": floor,
        "peak_rss_mb": C.peak_rss_mb(),
        "table": C.table_to_json(table),
    }
    mismatched = [r for r in runs if r["evaluations"] != r["expected_evaluations"]]
    if mismatched:
        result["evaluation_count_mismatch"] = mismatched
    path = C.save_result(NAME, result, args.quick, args.output)
    C.print_table(table)
    print(f"results: {path}")
    if mismatched:
        print(f"WARNING: evaluation counts differ from N / 2N-1: {mismatched}")
    if not args.quick:
        write_docs(result)
    return result


def write_docs(result, docs=None):
    """Rewrite the steps_sweep section of docs/benchmarks.md from a result dict."""
    table = C.table_from_json(result["table"])
    t = result["training"]
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"One model ({t['train_loop_seconds']:.0f} s of training, {t['optimizer_steps']} "
        f"optimizer steps on {result['n_train']} patients), {result['n_synthetic']} patients "
        "per row, scored against the training patients (fidelity and discrimination). "
        "`evaluations` are network evaluations counted by a hook (Heun: 2N − 1); "
        "`ms_per_patient` is the whole `sample` call (decoding included) in chunks of "
        f"{result['sample_batch_size']}.",
        "",
        *C.markdown_table(table),
    ]
    C.update_docs(NAME, "Sampling steps: quality and time (euler, heun, sde)", lines, docs)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
