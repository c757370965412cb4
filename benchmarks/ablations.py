"""Benchmark: ablations of the noise schedule and of classifier-free guidance.

On PhysioNet 2012 set a (3,000 training / 1,000 unseen test patients, as physionet_cpu.py):

1. **Schedule.** Two CDMTSynthesizers with the same budget (``max_time=B``, no epoch limit,
   same seed): the learned factorized schedule (the default) and EDM's fixed schedule
   (``schedule="edm"``). Each samples `-n` patients at `sample`'s defaults, scored with the
   headline scores of ``cdmtehr.evaluation.evaluate`` against the unseen patients. The
   factorized model may come from a full run's ``--save-model`` via ``--model FILE``.
2. **Guidance for the minority class.** The factorized model generates `--n-minority`
   patients with ``condition=1`` (in-hospital death, ~14 % of patients) at guidance scales
   1 (plain conditional sampling), 2 and 3. For each: the mean risk that a mortality model
   fitted on the real training patients (physionet_cpu.mortality_risk) gives them, next to
   the same model's mean risk for real unseen deaths and survivors; and the fidelity of the
   generated patients against the real training deaths (disc_auroc, ks_mean,
   missing_rate_diff), next to a real-vs-real floor among deaths.

Writes ``benchmarks/results/ablations.json`` and the ``ablations`` section of
docs/benchmarks.md.

    python benchmarks/ablations.py --max-time 600
    python benchmarks/ablations.py --quick
"""

from __future__ import annotations

import sys
import time
import warnings

import pandas as pd

import _common as C
from cdmtehr import CDMTSynthesizer
from cdmtehr.datasets import load_physionet2012
from cdmtehr.evaluation import evaluate, real_vs_real
from cdmtehr.exceptions import DataWarning
from physionet_cpu import mortality_risk as _mortality_risk

NAME = "ablations"
SCORED = ("fidelity", "discriminative")


def mortality_risk(train, frame, roles):
    """physionet_cpu.mortality_risk, without its warning that the label is not a feature."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DataWarning, message=".*no role.*")
        return _mortality_risk(train, frame, roles)


def fit(train, roles, args, schedule):
    if schedule == "factorized":  # the default model, which --model may provide
        return C.default_model(args, train, roles, f"ablations, schedule={schedule!r}")
    params = C.model_params(args.quick)
    synth = CDMTSynthesizer(max_time=args.max_time, epochs=params.pop("epochs", None),
                            schedule=schedule, random_state=args.seed, **params)
    print(f"[ablations] fitting schedule={schedule!r} for up to {args.max_time:g} s ...",
          flush=True)
    synth.fit(train, **roles)
    return synth


def patients_of_class(df, roles, value):
    label, ids = roles["condition_col"], roles["id_col"]
    keep = df.loc[df[label] == value, ids].unique()
    return df[df[ids].isin(keep)].reset_index(drop=True)


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--n-minority", type=int, default=500)
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    C.add_sampling_arguments(p)
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    if args.quick:
        args.n = args.n_minority = C.QUICK["n"]
        args.steps = 3

    train, test, roles = C.load_split(args.quick, args.seed)
    id_col, label = roles["id_col"], roles["condition_col"]

    # 1. schedule ablation
    schedules, rows = {}, []
    models = {}
    for schedule in ("factorized", "edm"):
        synth = fit(train, roles, args, schedule)
        models[schedule] = synth
        start = time.perf_counter()
        synthetic = synth.sample(args.n, steps=args.steps, sampler=args.sampler,
                                 random_state=args.seed)
        seconds = time.perf_counter() - start
        scores = C.numbers_only(evaluate(train, synthetic, test, **roles,
                                         random_state=args.seed))
        schedules[schedule] = {
            "training": C.training_summary(synth.history_, synth.batch_size, synth.n_patients_,
                                           synth.fit_seconds_),
            "sampling_ms_per_patient": 1000 * seconds / args.n,
            "scores": scores,
        }
        rows.append([schedule, schedules[schedule]["training"]["optimizer_steps"],
                     schedules[schedule]["training"]["final_loss"],
                     *[scores.get(k) for k in C.HEADLINE]])
    floor = C.numbers_only(real_vs_real(pd.concat([train, test]), **roles,
                                        random_state=args.seed))
    rows.append(["real vs real (floor)", None, None, *[floor.get(k) for k in C.HEADLINE]])
    schedule_table = pd.DataFrame(rows, columns=["schedule", "optimizer_steps", "final_loss",
                                                 *C.HEADLINE])
    schedule_table["optimizer_steps"] = pd.array(schedule_table["optimizer_steps"],
                                                 dtype="Int64")

    # 2. guidance for the minority class
    minority = 1
    real_minority = patients_of_class(train, roles, minority)
    reference = "training deaths"
    if real_minority[id_col].nunique() < 2 * C.QUICK["n"] and args.quick:
        # 40 quick patients hold a handful of deaths; the evaluation needs >= 10 a side.
        full, _ = load_physionet2012(return_roles=True)
        full = full[roles_columns(train)]
        deaths = patients_of_class(full, roles, minority)
        keep = deaths[id_col].drop_duplicates().to_numpy()[: 2 * C.QUICK["n"]]
        real_minority = deaths[deaths[id_col].isin(keep)].reset_index(drop=True)
        reference = "deaths of the whole set (quick mode only)"
    test_minority = patients_of_class(test, roles, minority)
    test_majority = patients_of_class(test, roles, 0)
    real_risk = {
        "real unseen deaths": mortality_risk(train, test_minority, roles).get(minority)
        if len(test_minority) else None,
        "real unseen survivors": mortality_risk(train, test_majority, roles).get(0),
    }
    minority_floor = C.numbers_only(real_vs_real(
        real_minority if args.quick else pd.concat([real_minority, test_minority]),
        **roles, with_holdout=False, metrics=SCORED, random_state=args.seed))

    guidance, grows = {}, []
    synth = models["factorized"]
    for scale in args.scales:
        start = time.perf_counter()
        synthetic = synth.sample(args.n_minority, condition=minority, guidance_scale=scale,
                                 steps=args.steps, sampler=args.sampler,
                                 random_state=args.seed + 1)
        seconds = time.perf_counter() - start
        risk = mortality_risk(train, synthetic, roles).get(minority)
        scores = C.numbers_only(evaluate(real_minority, synthetic, **roles, metrics=SCORED,
                                         random_state=args.seed))
        guidance[str(scale)] = {"mean_risk": risk, "scores": scores,
                                "sampling_ms_per_patient": 1000 * seconds / args.n_minority}
        grows.append([f"synthetic, guidance {scale:g}", risk,
                      *[scores.get(k) for k in C.FIDELITY]])
    for name, risk in real_risk.items():
        grows.append([name, risk, None, None, None])
    grows.append(["real vs real deaths (floor)", None,
                  *[minority_floor.get(k) for k in C.FIDELITY]])
    guidance_table = pd.DataFrame(grows, columns=["patients (condition=1)", "mean_risk",
                                                  *C.FIDELITY])

    result = {
        "command": C.command(),
        "quick": args.quick,
        "machine": C.machine(),
        "budget_seconds": args.max_time,
        "n_train": int(train[id_col].nunique()),
        "n_test": int(test[id_col].nunique()),
        "n_synthetic": args.n,
        "n_minority": args.n_minority,
        "steps": args.steps,
        "sampler": args.sampler,
        "schedules": schedules,
        "real_vs_real": floor,
        "guidance": guidance,
        "real_mean_risk": real_risk,
        "minority_reference": reference,
        "minority_reference_patients": int(real_minority[id_col].nunique()),
        "minority_real_vs_real": minority_floor,
        "peak_rss_mb": C.peak_rss_mb(),
        "tables": {"schedule": C.table_to_json(schedule_table),
                   "guidance": C.table_to_json(guidance_table)},
    }
    path = C.save_result(NAME, result, args.quick, args.output)
    print("Noise schedule (same budget):")
    C.print_table(schedule_table)
    print(f"\nGuidance, condition={minority} ({label}); fidelity against {reference}:")
    C.print_table(guidance_table)
    print(f"results: {path}")
    if not args.quick:
        write_docs(result)
    return result


def roles_columns(frame):
    """The columns of `frame`, to cut another frame to the same ones."""
    return list(frame.columns)


def write_docs(result, docs=None):
    """Rewrite the ablations section of docs/benchmarks.md from a result dict."""
    schedule_table = C.table_from_json(result["tables"]["schedule"])
    guidance_table = C.table_from_json(result["tables"]["guidance"])
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"**Noise schedule.** Both models get {result['budget_seconds']:g} s of training on "
        f"{result['n_train']} patients and sample {result['n_synthetic']} at "
        f"{C.sampling_words(result)}; scores against {result['n_test']} unseen patients.",
        "",
        *C.markdown_table(schedule_table),
        "",
        f"**Guidance for the minority class** (`condition=1`, in-hospital death; the "
        f"factorized model, {result['n_minority']} patients per scale). `mean_risk`: mean "
        "predicted mortality of a gradient-boosting model fitted on the real training "
        f"patients. Fidelity against the {result['minority_reference_patients']} real "
        f"{result['minority_reference']}.",
        "",
        *C.markdown_table(guidance_table),
    ]
    C.update_docs(NAME, "Ablations: learned schedule, guidance for the minority class", lines,
                  docs)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
