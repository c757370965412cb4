"""Benchmark: samplers and step counts against 200 Euler steps of the same model.

One CDMTSynthesizer (defaults, ``max_time=B``; or a saved model reused with ``--model FILE``)
fitted on the 3,000 training patients of PhysioNet 2012 set a. Its reference cohort is `-n`
patients drawn with 200 Euler steps of the probability-flow ODE (seed s); a second 200-step
cohort (seed s + 1) gives the floor. Every candidate (a sampler and a step count; seed s + 2)
is scored against the reference:

* the summary and the sequence discriminators (``evaluate``'s ``disc_summary_auroc`` and
  ``disc_sequence_auroc``; 0.5 when the two cohorts cannot be told apart) and the mean KS of
  the values, beside the same scores of the second 200-step cohort;
* the solver's own error, free of sampling noise: a 200-step cohort drawn from the candidate's
  seed starts from the same noise and the same first stage, so each patient's values can be
  set beside their 200-step solution: the mean absolute difference of the values measured in
  both, in standard deviations of each variable (averaged over the variables), and the share
  of cells whose "measured or not" differs (the SDE adds noise of its own on the way, so its
  error is not the solver's alone);
* network evaluations, counted by a hook (Heun at N steps: 2N - 1);
* ms per patient of the whole ``sample`` call (first stage, decoding and the DataFrame
  included), the part spent in the denoiser, and the denoiser's share of the machine's
  float32 matmul ceiling (FLOPs counted as in speed.py).

The model was trained in continuous time, so every step count uses the same weights. Timings
need an otherwise idle machine: the load average is in the results. Writes
``benchmarks/results/steps_sweep.json`` and the ``steps_sweep`` section of docs/benchmarks.md.

    python benchmarks/steps_sweep.py --model benchmarks/results/models/default_600s.cdmt
    python benchmarks/steps_sweep.py --quick
"""

from __future__ import annotations

import sys
import time

import pandas as pd

import _common as C
from cdmtehr.evaluation import evaluate
from speed import DenoiserTimer, flops_per_patient, matmul_gflops

NAME = "steps_sweep"
REFERENCE = ("euler", 200)
CANDIDATES = ["euler:50", "euler:20", "euler:10", "euler:6", "heun:10", "heun:5", "sde:50",
              "dpmpp_2m:20", "dpmpp_2m:12", "dpmpp_2m:10", "dpmpp_2m:8", "dpmpp_2m:6"]
SCORES = ("disc_summary_auroc", "disc_sequence_auroc", "ks_mean")


def solver_error(solution, cohort, roles) -> dict:
    """How far `cohort` lies from `solution`, drawn from the same noise with more steps.

    ``value_error``: per numeric column, the mean absolute difference of the cells measured
    in both, over the column's standard deviation in `solution`; averaged over the columns.
    ``mask_disagreement``: share of the numeric cells measured in one cohort and not the other.
    """
    keys = [roles["id_col"], roles["time_col"]]
    columns = [c for c in roles["num_cols"] if c in solution.columns]
    both = solution[keys + columns].merge(cohort[keys + columns], on=keys, how="outer",
                                          suffixes=("_solution", "_cohort"))
    errors, disagreements = [], []
    for column in columns:
        a, b = both[f"{column}_solution"], both[f"{column}_cohort"]
        disagreements.append(float((a.isna() != b.isna()).mean()))
        measured = a.notna() & b.notna()
        scale = solution[column].std()
        if measured.any() and scale > 0:
            errors.append(float((a[measured] - b[measured]).abs().mean() / scale))
    return {"value_error": float(sum(errors) / max(len(errors), 1)),
            "mask_disagreement": float(sum(disagreements) / max(len(disagreements), 1))}


def candidate(text: str) -> tuple:
    """'sampler:steps' -> (sampler, steps)."""
    sampler, _, steps = text.partition(":")
    return sampler, int(steps)


def timed_sample(synth, n, sampler, steps, seed, flops, ceiling) -> tuple:
    """(cohort, timing dict) of one ``sample`` call."""
    chunks = -(-n // synth.sample_batch_size)
    timer = DenoiserTimer(synth.model_)
    start = time.perf_counter()
    cohort = synth.sample(n, steps=steps, sampler=sampler, random_state=seed)
    seconds = time.perf_counter() - start
    timer.close()
    evaluations = timer.calls // chunks
    gflop = flops * evaluations * n / 1e9
    return cohort, {
        "sampler": sampler, "steps": steps, "evaluations": evaluations,
        "expected_evaluations": 2 * steps - 1 if sampler == "heun" else steps,
        "seconds": seconds, "ms_per_patient": 1000 * seconds / n,
        "denoiser_ms_per_patient": 1000 * timer.seconds / n,
        "share_of_matmul_ceiling": gflop / max(timer.seconds, 1e-9) / ceiling,
    }


def compared(reference, cohort, roles, seed) -> dict:
    """Summary and sequence discriminators and mean KS of `cohort` against `reference`."""
    scores = evaluate(reference, cohort, **roles, metrics=("fidelity", "discriminative"),
                      discriminators=("summary", "sequence"), random_state=seed)
    return {key: float(scores[key]) for key in SCORES}


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--candidates", nargs="+", default=CANDIDATES,
                   help="sampler:steps pairs (default: %(default)s)")
    p.add_argument("--matmul-size", type=int, default=2048)
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    reference_steps = REFERENCE[1]
    if args.quick:
        args.n, args.matmul_size = C.QUICK["n"], 256
        args.candidates, reference_steps = ["euler:2", "heun:2", "dpmpp_2m:2"], 4
    candidates = [candidate(text) for text in args.candidates]

    train, _, roles = C.load_split(args.quick, args.seed)
    synth = C.default_model(args, train, roles, NAME)
    training = C.training_summary(synth.history_, synth.batch_size, synth.n_patients_,
                                  synth.fit_seconds_)
    flops = flops_per_patient(synth)
    ceiling = matmul_gflops(args.matmul_size)
    synth.sample(min(args.n, 64), steps=2, random_state=args.seed)  # warm-up, untimed

    reference, reference_run = timed_sample(synth, args.n, REFERENCE[0], reference_steps,
                                            args.seed, flops, ceiling)
    second, floor_run = timed_sample(synth, args.n, REFERENCE[0], reference_steps,
                                     args.seed + 1, flops, ceiling)
    floor_run["scores"] = compared(reference, second, roles, args.seed)
    print(f"[{NAME}] floor (two {reference_steps}-step cohorts): {floor_run['scores']}",
          flush=True)
    solution, _ = timed_sample(synth, args.n, REFERENCE[0], reference_steps, args.seed + 2,
                               flops, ceiling)
    runs = []
    for sampler, steps in candidates:
        cohort, run = timed_sample(synth, args.n, sampler, steps, args.seed + 2, flops, ceiling)
        run["scores"] = compared(reference, cohort, roles, args.seed)
        run["solver_error"] = solver_error(solution, cohort, roles)
        runs.append(run)
        print(f"[{NAME}] {sampler} {steps} steps: {run['evaluations']} evaluations, "
              f"{run['ms_per_patient']:.1f} ms/patient, {run['scores']}, "
              f"{run['solver_error']}", flush=True)

    def row(label, steps, run):
        error = run.get("solver_error", {})
        return [label, steps, run["evaluations"], run["ms_per_patient"],
                run["denoiser_ms_per_patient"], 100 * run["share_of_matmul_ceiling"],
                *[run["scores"][key] for key in SCORES],
                error.get("value_error"), error.get("mask_disagreement")]

    rows = [row(r["sampler"], r["steps"], r) for r in runs]
    rows.append(row(f"{REFERENCE[0]}, second seed (floor)", reference_steps, floor_run))
    table = pd.DataFrame(rows, columns=["sampler", "steps", "evaluations", "ms_per_patient",
                                        "denoiser_ms_per_patient", "%_of_matmul_ceiling",
                                        "summary_auroc", "sequence_auroc", "ks_mean",
                                        "value_error_sd", "mask_disagreement"])
    for column in ("steps", "evaluations"):
        table[column] = pd.array(table[column], dtype="Int64")

    result = {
        "command": C.command(),
        "quick": args.quick,
        "machine": C.machine(),
        "model_file": args.model,
        "n_train": int(train[roles["id_col"]].nunique()),
        "n_synthetic": args.n,
        "sample_batch_size": synth.sample_batch_size,
        "training": training,
        "reference": {**reference_run, "seed": args.seed},
        "floor": {**floor_run, "seed": args.seed + 1},
        "candidate_seed": args.seed + 2,
        "flops_per_patient_per_evaluation": flops,
        "matmul": {"size": args.matmul_size, "gflops_per_second": ceiling},
        "runs": runs,
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
    if not args.quick and not args.output:
        write_docs(result)
    return result


def write_docs(result, docs=None):
    """Rewrite the steps_sweep section of docs/benchmarks.md from a result dict."""
    table = C.table_from_json(result["table"])
    t = result["training"]
    reference = result["reference"]
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"One model ({t['optimizer_steps']} optimizer steps on {result['n_train']} patients). "
        f"Its reference cohort is {result['n_synthetic']} patients drawn with "
        f"{reference['steps']} {reference['sampler']} steps "
        f"({reference['ms_per_patient']:.0f} ms per patient); every row is "
        f"{result['n_synthetic']} patients of another seed, scored against it: the summary "
        "and the sequence discriminators (0.5: the cohorts cannot be told apart) and the mean "
        "KS. The last row, a second 200-step cohort, is the floor. `value_error_sd` and "
        "`mask_disagreement` are the solver's own error: each patient beside its 200-step "
        "solution from the same noise and the same first stage (the mean absolute difference "
        "of the values measured in both, in each variable's sd, averaged over the variables; "
        "the share of cells measured in one and not the other; the SDE adds noise of its own). "
        "`evaluations` are network "
        "evaluations counted by a hook (Heun: 2N − 1); `ms_per_patient` is the whole `sample` "
        f"call in chunks of {result['sample_batch_size']}, `denoiser_ms_per_patient` the part "
        "spent in the network, whose share of the machine's float32 matmul ceiling "
        f"({result['matmul']['gflops_per_second']:.0f} GFLOP/s) is `%_of_matmul_ceiling` "
        f"({result['flops_per_patient_per_evaluation'] / 1e6:.1f} MFLOP per patient and "
        "evaluation).",
        "",
        *C.markdown_table(table),
    ]
    C.update_docs(NAME, "Samplers against 200 Euler steps: quality and time", lines, docs)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
