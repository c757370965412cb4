"""Outlier rates of synthetic patients against the training data, with and without the tail calibration.

An outlier of a variable is a value outside its plausible range (PHYSIONET2012_RANGES), or,
for a variable without one, more than eight interquartile ranges beyond the real quartiles
(log scale for positive variables): the report's "values to check"
(`cdmtehr.evaluation.report.far_bounds`, one range from the real training values for both
cohorts). A cohort's outlier rate of a variable is the share of its patients with at least
one outlier of it; the ratio is the synthetic rate over the training rate (target: at most
1.5). The value ratio compares the shares of measured values instead.

Protocol of physionet_cpu.py: PhysioNet 2012 set a, 3,000 training and 1,000 unseen patients
(split by patient), the default model fitted `--max-time` seconds or loaded from `--model`.
`-n` synthetic patients are drawn once (at `sample`'s default settings, which the calibration
is drawn at) and decoded without and with the
model's tail calibration (`tail_calibration_`). A model without one (saved before fits made
one) is calibrated here from `--calibrate` other drawn patients, as `fit` draws them;
`--recalibrate` draws the calibration again by the current code exactly as `fit` drew it (its
seed, as many patients as `calibration_size` gives, no time limit), for a change of the
calibration's method measured on a saved model without retraining its denoiser;
`--refit-encoders` also decodes with a preprocessor fitted to the training patients by the
current code (for a model saved before a change of the pooled quantiles). With `--scores`,
the first 1,000 synthetic patients of each decoding are scored against the unseen patients
(the summary, sequence and masks-only discriminators, KS), beside the real-vs-real floors.

    python benchmarks/tail_rates.py --model FILE -n 3000 --scores [--recalibrate]
"""

from __future__ import annotations

import dataclasses
import time

import _common as C
import pandas as pd
from scipy.stats import beta
from sklearn.utils import check_random_state

from cdmtehr.completion import sample_chunks
from cdmtehr.datasets import PHYSIONET2012_RANGES
from cdmtehr.evaluation import evaluate, real_vs_real
from cdmtehr.evaluation.report import far_bounds
from cdmtehr.preprocessing import EncodedCohort, SequencePreprocessor
from cdmtehr.sampling.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS
from cdmtehr.sampling.tails import calibrate_tails, calibration_size, draw_tail_calibration

TITLE = "Outliers and the tail calibration"
DISCRIMINATORS = ("summary", "sequence", "sequence_masks")
SCORES = ("disc_summary_auroc", "disc_sequence_auroc", "disc_sequence_masks_auroc", "ks_mean",
          "static_ks_mean")


def outlier_table(train, synthetic, roles) -> dict:
    """Per variable: training and synthetic patients (and values) with an outlier, the ratios."""
    idc = roles["id_col"]
    columns = [*roles["num_cols"], *(c for c in roles["static_cols"]
                                     if pd.api.types.is_numeric_dtype(train[c]))]
    rows = {}
    for col in columns:
        real = train[[idc, col]].dropna()
        syn = synthetic[[idc, col]].dropna()
        if col in roles["static_cols"]:
            real, syn = real.drop_duplicates(idc), syn.drop_duplicates(idc)
        bounds = far_bounds(real[col], PHYSIONET2012_RANGES.get(col))
        if bounds is None:
            continue
        row = {"bounds": [float(bounds[0]), float(bounds[1])]}
        for name, frame, total in (("real", real, train[idc].nunique()),
                                   ("synthetic", syn, synthetic[idc].nunique())):
            far = (frame[col] < bounds[0]) | (frame[col] > bounds[1])
            row[f"{name}_values"] = int(far.sum())
            row[f"{name}_value_share"] = float(far.mean()) if len(far) else 0.0
            row[f"{name}_patients"] = int(frame.loc[far, idc].nunique())
            row[f"{name}_share"] = row[f"{name}_patients"] / total
        row["value_ratio"] = (row["synthetic_value_share"] / row["real_value_share"]
                              if row["real_value_share"] else None)
        row["ratio"] = (row["synthetic_share"] / row["real_share"] if row["real_share"]
                        else (float("inf") if row["synthetic_share"] else None))
        rows[col] = row
    return rows


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0], n=3000)
    p.add_argument("--calibrate", type=int, default=1000,
                   help="patients drawn to calibrate a model that has no calibration")
    p.add_argument("--recalibrate", action="store_true",
                   help="draw the model's calibration again as fit drew it, by this code")
    p.add_argument("--refit-encoders", action="store_true")
    p.add_argument("--scores", action="store_true")
    args = p.parse_args(argv)
    if args.docs_from:
        C.docs_from(args.docs_from, write_docs)
        return None
    train, test, roles = C.load_split(args.quick, args.seed)
    n = C.QUICK["n"] if args.quick else args.n
    synth = C.default_model(args, train, roles, "tail_rates")
    calibration = getattr(synth, "tail_calibration_", None)
    source = "fit"
    if args.recalibrate:
        started = time.perf_counter()
        n_draw = calibration_size(synth.n_patients_)
        calibration = draw_tail_calibration(
            synth.model_, synth.schedule_, synth.class_prior_,
            getattr(synth, "profile_model_", None), n_patients=n_draw,
            batch_size=synth.sample_batch_size, device=synth.device_,
            seed=fit_calibration_seed(synth.random_state))
        source = (f"drawn again as fit drew it, by this code: {n_draw} patients, "
                  f"{time.perf_counter() - started:.0f} s")
    elif calibration is None:
        started = time.perf_counter()
        calibration = draw_tail_calibration(
            synth.model_, synth.schedule_, synth.class_prior_,
            getattr(synth, "profile_model_", None),
            n_patients=C.QUICK["n"] if args.quick else args.calibrate,
            batch_size=synth.sample_batch_size, device=synth.device_, seed=args.seed + 1000)
        source = (f"drawn by this script: {args.calibrate} patients, "
                  f"{time.perf_counter() - started:.0f} s")
    decoders = {"": synth.preprocessor_}
    if args.refit_encoders:
        decoders = {"saved encoders, ": synth.preprocessor_, "": SequencePreprocessor(
            max_levels=synth.max_levels, min_patients_per_value=synth.min_patients_per_value,
            max_decimals=6 if synth.enforce_rounding else None,
        ).fit(train, **roles)}
    synth.tail_calibration_ = None  # the raw draws; calibrated below from the same arrays
    raw = EncodedCohort.concat(list(sample_chunks(
        synth, n, condition=None, steps=DEFAULT_STEPS, sampler=DEFAULT_SAMPLER, guidance_scale=1.0,
        random_state=args.seed)))
    mapped = calibrate_tails(calibration, {"numeric": raw.numeric,
                                           "static_numeric": raw.static_numeric})
    result = {"command": C.command(), "machine": C.machine(), "quick": args.quick,
              "model": args.model, "calibration": source, "synthetic_patients": n,
              "variants": {}}
    if args.scores:
        floor = real_vs_real(pd.concat([train, test]), **roles, with_holdout=True,
                             metrics=("fidelity", "discriminative"),
                             discriminators=DISCRIMINATORS, random_state=args.seed)
        result["real_vs_real"] = {k: floor.get(k) for k in SCORES}
    for label, preprocessor in decoders.items():
        for name, encoded in (("uncalibrated", raw),
                              ("calibrated", dataclasses.replace(raw, **mapped))):
            synthetic = preprocessor.inverse_transform(encoded)
            entry = {"outliers": outlier_table(train, synthetic, roles)}
            if args.scores:
                first = synthetic[roles["id_col"]].drop_duplicates().iloc[:1000]
                scored = evaluate(train, synthetic[synthetic[roles["id_col"]].isin(first)],
                                  test, **roles, metrics=("fidelity", "discriminative"),
                                  discriminators=DISCRIMINATORS, random_state=args.seed)
                entry["scores"] = {k: scored.get(k) for k in SCORES}
            result["variants"][label + name] = entry
    for table in tables(result):
        C.print_table(table)
    path = C.save_result("tail_rates", result, args.quick, args.output)
    print(f"wrote {path}")
    if not args.quick and args.output is None:
        write_docs(result)
    return result


def fit_calibration_seed(random_state) -> int:
    """The seed of the calibration draw of a fit with `random_state` (an int or None)."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1)) + 1


def rate_ratio_interval(synthetic, n_synthetic, real, n_real, level=0.95) -> tuple:
    """Exact interval of the ratio of two Poisson rates, `synthetic` events in `n_synthetic`
    patients over `real` in `n_real`: given their sum, the synthetic count is binomial with
    p = R n_s / (R n_s + n_r), whose Clopper-Pearson interval maps onto R. Both counts are
    uncertain: a ratio over 6 training patients is not known to better than a factor of
    about 2 either way, however many synthetic patients are drawn."""
    tail = (1 - level) / 2
    low = beta.ppf(tail, synthetic, real + 1) if synthetic else 0.0
    high = beta.ppf(1 - tail, synthetic + 1, real) if real else 1.0
    scale = n_real / n_synthetic
    to_ratio = (lambda p: float("inf") if p >= 1 else p / (1 - p) * scale)
    return to_ratio(low), to_ratio(high)


def tables(result) -> list:
    """The per-variable table (variables any cohort has outliers of) and the scores table."""
    variants = result["variants"]
    first = next(iter(variants.values()))["outliers"]
    rows = []
    for variable, real in first.items():
        row = {"variable": variable,
               "training patients": f"{real['real_patients']} ({100 * real['real_share']:.2f} %)"}
        for name, entry in variants.items():
            cell = entry["outliers"][variable]
            ratio = "–" if cell["ratio"] is None else f"{cell['ratio']:.2f}x"
            row[name] = f"{cell['synthetic_patients']} ({ratio})"
        if real["real_patients"]:  # of the last decoding (the calibrated one)
            n_real = round(real["real_patients"] / real["real_share"])
            low, high = rate_ratio_interval(cell["synthetic_patients"],
                                            result["synthetic_patients"],
                                            real["real_patients"], n_real)
            row["95 % interval"] = f"{low:.2f}-{high:.2f}x"
        else:
            row["95 % interval"] = "–"
        # outlier values, calibrated: a patient's outliers cluster in real stays (several
        # hours of one extreme episode), so the two shares differ where they are scattered
        value_ratio = "–" if cell["value_ratio"] is None else f"{cell['value_ratio']:.2f}x"
        row["values: training / calibrated"] = (
            f"{real['real_values']} / {cell['synthetic_values']} ({value_ratio})")
        if real["real_patients"] or any(variants[v]["outliers"][variable]["synthetic_patients"]
                                        for v in variants):
            rows.append(row)
    out = [pd.DataFrame(rows)]
    if "real_vs_real" in result:
        scores = pd.DataFrame({name: entry["scores"] for name, entry in variants.items()}
                              | {"real vs real": result["real_vs_real"]})
        out.append(scores.rename_axis("score").reset_index())
    return out


def write_docs(result, path=None):
    outliers, *scores = tables(result)
    lines = [f"Command: `{result['command']}`; tail calibration {result['calibration']} — "
             f"machine: {C.machine_line(result['machine'])}.", "",
             f"Patients with an outlier (of {result['synthetic_patients']:,} synthetic, "
             "3,000 training), and the synthetic share over the training share; the 95 % "
             "interval is the exact one of the ratio of the calibrated and the training "
             "rates, both counts uncertain (a variable with 6 training patients cannot be "
             "pinned to within 1.5 times either way). The last "
             "column counts outlier values instead of patients, training against calibrated, "
             "and gives the ratio of their shares of the measured values:", "",
             *C.markdown_table(outliers)]
    if scores:
        lines += ["", "The first 1,000 synthetic patients of each decoding against the unseen "
                  "patients:", "", *C.markdown_table(scores[0])]
    C.update_docs("tail_rates", TITLE, lines, path)


if __name__ == "__main__":
    main()
