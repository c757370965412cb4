"""Benchmark: ablations of the first stage, the noise schedule and classifier-free guidance.

On PhysioNet 2012 set a (3,000 training / 1,000 unseen test patients, as physionet_cpu.py):

1. **Model.** Three CDMTSynthesizers with the same budget (``max_time=B``, no epoch limit,
   same seed): the default (two stages, the learned factorized schedule), the paper's single
   stage (``profile=False``) and the default with EDM's fixed schedule (``schedule="edm"``).
   Each samples `-n` patients at `sample`'s defaults, scored against the unseen patients on
   the headline's yardstick (the summary discriminator, the sequence discriminator on values
   and masks, masks alone and values alone, the schedule of care, fidelity, utility and
   privacy), next to the real-vs-real floor. The default may come from a full run's
   ``--save-model`` via ``--model FILE``.
2. **Guidance for the minority class.** The default model generates `--n-minority`
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
TITLE = "Ablations: two stages, learned schedule, guidance for the minority class"
SCORED = ("fidelity", "discriminative")
# The models compared: name -> the parameters that differ from the default.
MODELS = {
    "default (two stages, factorized schedule)": {},
    "single stage (the paper's model)": {"profile": False},
    "two stages, EDM's fixed schedule": {"schedule": "edm"},
}
# The headline's yardstick, in its order.
YARDSTICK = [
    "disc_summary_auroc", "disc_sequence_auroc", "disc_sequence_masks_auroc",
    "disc_sequence_values_auroc", "care_patterns_ratio", "care_unseen_pattern_share",
    "care_gap_ks_median", "ks_mean", "missing_rate_diff", "tstr_trtr_auroc_ratio", "dcr_ratio",
]


def mortality_risk(train, frame, roles):
    """physionet_cpu.mortality_risk, without its warning that the label is not a feature."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DataWarning, message=".*no role.*")
        return _mortality_risk(train, frame, roles)


def fit(train, roles, args, name):
    changes = MODELS[name]
    if not changes:  # the default model, which --model may provide
        return C.default_model(args, train, roles, f"ablations, {name}")
    params = C.model_params(args.quick)
    synth = CDMTSynthesizer(max_time=args.max_time, epochs=params.pop("epochs", None),
                            random_state=args.seed, **changes, **params)
    print(f"[ablations] fitting {name} for up to {args.max_time:g} s ...", flush=True)
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

    # 1. the models, side by side
    compared, rows = {}, []
    default = None
    for name in MODELS:
        synth = fit(train, roles, args, name)
        if default is None:
            default = synth
        start = time.perf_counter()
        synthetic = synth.sample(args.n, steps=args.steps, sampler=args.sampler,
                                 random_state=args.seed)
        seconds = time.perf_counter() - start
        scores = C.numbers_only(evaluate(train, synthetic, test, **roles,
                                         random_state=args.seed))
        compared[name] = {
            "parameters": MODELS[name],
            "training": C.training_summary(synth.history_, synth.batch_size, synth.n_patients_,
                                           synth.fit_seconds_),
            "sampling_ms_per_patient": 1000 * seconds / args.n,
            "scores": scores,
        }
        del synth
        rows.append([name, compared[name]["training"]["optimizer_steps"],
                     *[scores.get(k) for k in YARDSTICK]])
    floor = C.numbers_only(real_vs_real(pd.concat([train, test]), **roles,
                                        random_state=args.seed))
    rows.append(["real vs real (floor)", None, *[floor.get(k) for k in YARDSTICK]])
    model_table = pd.DataFrame(rows, columns=["model", "optimizer_steps", *YARDSTICK])
    model_table["optimizer_steps"] = pd.array(model_table["optimizer_steps"], dtype="Int64")

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
    synth = default
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
        "models": compared,
        "real_vs_real": floor,
        "guidance": guidance,
        "real_mean_risk": real_risk,
        "minority_reference": reference,
        "minority_reference_patients": int(real_minority[id_col].nunique()),
        "minority_real_vs_real": minority_floor,
        "peak_rss_mb": C.peak_rss_mb(),
        "tables": {"models": C.table_to_json(model_table),
                   "guidance": C.table_to_json(guidance_table)},
    }
    path = C.save_result(NAME, result, args.quick, args.output)
    print("Models (same budget and seed):")
    C.print_table(model_table)
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
    model_table = C.table_from_json(result["tables"]["models"])
    guidance_table = C.table_from_json(result["tables"]["guidance"])
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"**Models.** Each gets {result['budget_seconds']:g} s of training on "
        f"{result['n_train']} patients with the same seed and samples "
        f"{result['n_synthetic']} at {C.sampling_words(result)}; scores against "
        f"{result['n_test']} unseen patients. Columns: the summary discriminator, the "
        "sequence discriminator on values and masks, on masks alone and on values alone; "
        "distinct co-measurement patterns over the real count and the share of hours in "
        "patterns the real cohort lacks; the median per-variable KS of the gaps between "
        "measurements; the mean per-variable KS, the missing-rate error, TSTR/TRTR and the "
        "DCR ratio.",
        "",
        *C.markdown_table(model_table),
        "",
        f"**Guidance for the minority class** (`condition=1`, in-hospital death; the "
        f"default model, {result['n_minority']} patients per scale). `mean_risk`: mean "
        "predicted mortality of a gradient-boosting model fitted on the real training "
        f"patients. Fidelity against the {result['minority_reference_patients']} real "
        f"{result['minority_reference']}.",
        "",
        *C.markdown_table(guidance_table),
    ]
    C.update_docs(NAME, TITLE, lines,
                  docs)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
