"""How realistic is the second stage on its own? Values drawn given a real first stage.

The default model draws a patient in two stages: a profile (stay length, how often each value
is measured, the level and spread of its measurements), then the stay given it. The
hour-by-hour yardstick tells its stays from unseen real ones; this script asks which stage
the discriminators read. From one fitted default model it scores, against the unseen
patients and beside the real-vs-real floor:

* ``default``: patients sampled as ``sample`` draws them;
* ``real first stage``: real training patients whose masks (which value is measured at which
  hour), statics and profile are kept, and whose every measured value is drawn by the
  denoiser given them (completion's replacement conditioning, with the patient's own
  profile given to the network and kept by the decoder). A perfect first stage: what is
  left for the discriminators is the values hour by hour.

Which values give the stays away: for the hourly vitals one by one, the values-alone sequence
discriminator on that variable only (real first stage against the unseen patients, beside two
halves of the unseen patients), and how the variable moves from one measurement to the next:
the median absolute step, the share of steps that repeat the value exactly and the lag-1
autocorrelation of the stay's deviations from its own mean (a stay that moves hour to hour
with the right spread but too little memory has a low one).

It also measures where the denoiser leaves noise in: on the unseen patients, given their own
profiles, the states are noised to the levels of diffusion times u of the learned schedule,
denoised once, and for each hourly vital the table gives the noise level sigma, the
denoiser's squared error over sigma^2 at the measured hours (1: the noise is left as it is;
below 1: removed), and the lag-1 correlation of that error along the stay (near 0: an error
that changes hour to hour, which the sampler leaves in the values as roughness).

Both cohorts are drawn with the same sampler, 50 Euler steps by default (``--steps``,
``--sampler``): the replacement conditioning of the real first stage is completion's, whose
default that is, and the default cohort then differs from it only in its first stage.

    python benchmarks/second_stage.py --model benchmarks/results/models/default_600s.cdmt
"""

from __future__ import annotations

import json
from dataclasses import replace

import _common as C
import numpy as np
import pandas as pd
import torch

from cdmtehr.completion.frames import imputation_patients
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.profiles.stay import measured_steps, profile_inputs, stay_profile
from cdmtehr.evaluation import evaluate, real_vs_real
from cdmtehr.preprocessing import EncodedCohort
from cdmtehr.sampling import generate
from cdmtehr.sampling.inpainting import REPLACEMENT_SAMPLER, REPLACEMENT_STEPS

DISCRIMINATORS = ("summary", "sequence", "sequence_masks", "sequence_values")
SCORES = [f"disc_{name}_auroc" for name in DISCRIMINATORS] + [
    "ks_mean", "care_autocorr_diff_mean", "care_patterns_ratio", "care_gap_ks_median"]
VITALS = ["HR", "SysABP", "DiasABP", "NISysABP", "Temp", "RespRate", "Urine"]
# The variables of the per-variable table: the hourly vitals, and the scores charted every few
# hours.
TELLS = [*VITALS, "MAP", "GCS", "FiO2"]
DIFFUSION_TIMES = (0.01, 0.03, 0.05, 0.08, 0.12, 0.2)


def patients(frame, roles, n):
    """The first `n` patients of `frame` (by id), all their rows."""
    ids = np.sort(frame[roles["id_col"]].unique())[:n]
    return frame[frame[roles["id_col"]].isin(ids)].reset_index(drop=True)


def real_profiles(synth, frame):
    """The encoded cohort of `frame` and each patient's own profile (`StayProfile`)."""
    cohort = synth.preprocessor_.transform(frame)
    batch = CohortTensors.from_cohort(cohort, synth.layout_)
    return cohort, batch, stay_profile(batch.values, batch.codes, batch.valid, synth.layout_)


def given_real_first_stage(synth, frame, roles, steps, sampler, seed):
    """`frame`'s patients with every measured temporal value drawn by the denoiser, given the
    patient's masks, statics and own profile."""
    hidden = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    columns = C.temporal_numeric(roles)
    hidden[columns] = frame[columns].notna()
    pre = synth.preprocessor_
    known, classes, _, _ = imputation_patients(frame, hidden, pre, synth.layout_,
                                               nan="unmeasured", condition=None,
                                               owner="second_stage")
    _, batch, profile = real_profiles(synth, frame)
    drawn = (known.cohort.observed | known.hidden).sum(axis=1)
    if not np.array_equal(drawn, batch_counts(batch, synth.layout_)):
        raise SystemExit("the encoded patients and their profiles are not in the same order")
    chunks = generate(
        synth.model_, synth.schedule_, classes, steps=steps, sampler=sampler,
        generator=torch.Generator().manual_seed(seed), batch_size=synth.sample_batch_size,
        known=known.states(synth.model_), profiles=lambda start, stop: profile[start:stop],
    )
    levels = dict(categorical_levels=pre.categorical_levels_, n_classes=len(synth.classes_),
                  static_categorical_levels=pre.static_categorical_levels_)
    cohort = EncodedCohort.concat([EncodedCohort(**arrays, **levels) for arrays in chunks])
    # The masks are the patients' own: measured where they were, whatever the decoder drew.
    cohort = replace(cohort, observed=known.cohort.observed | known.hidden,
                     static_observed=known.cohort.static_observed | known.static_hidden)
    return pre.inverse_transform(cohort)


def movement(frame, roles, column):
    """How `column` moves between consecutive measurements of a stay: median absolute step,
    share of exact repeats, lag-1 autocorrelation of the deviations from the stay's mean."""
    id_col, time_col = roles["id_col"], roles["time_col"]
    measured = frame[[id_col, time_col, column]].dropna().sort_values([id_col, time_col])
    by_stay = measured.groupby(id_col)[column]
    steps = by_stay.diff().dropna()
    deviation = measured[column] - by_stay.transform("mean")
    previous = deviation.groupby(measured[id_col]).shift(1)
    both = previous.notna()
    lag1 = (np.corrcoef(deviation[both], previous[both])[0, 1] if both.sum() > 2 else np.nan)
    return {"median_step": float(steps.abs().median()), "repeats": float((steps == 0).mean()),
            "lag1": float(lag1)}


def value_tells(synthetic, real, roles, seed):
    """Per variable of `TELLS`: values-alone AUROC of `synthetic` against `real` on that
    variable only, beside the floor (two halves of `real`), and `movement` in both."""
    id_col, time_col = roles["id_col"], roles["time_col"]
    ids = np.sort(real[id_col].unique())
    half = np.random.default_rng(seed).permutation(len(ids)) % 2 == 0
    halves = [real[real[id_col].isin(ids[half])], real[real[id_col].isin(ids[~half])]]

    def auroc(first, second, column):
        keep = [id_col, time_col, column]
        scores = evaluate(first[keep], second[keep], id_col=id_col, time_col=time_col,
                          num_cols=[column], cat_cols=[], static_cols=[],
                          metrics=("discriminative",), discriminators=("sequence_values",),
                          random_state=seed)
        return scores["disc_sequence_values_auroc"]

    rows = []
    for column in [c for c in TELLS if c in C.temporal_numeric(roles)]:
        if min(synthetic[column].notna().sum(), real[column].notna().sum()) < 10:
            continue
        moved_real, moved = movement(real, roles, column), movement(synthetic, roles, column)
        rows.append({"variable": column, "values_auroc": auroc(real, synthetic, column),
                     "floor": auroc(*halves, column),
                     **{f"{k}_real": moved_real[k] for k in moved_real},
                     **{f"{k}_synthetic": moved[k] for k in moved}})
    return pd.DataFrame(rows)


def batch_counts(batch, layout):
    """(N, n_values) measured steps of each numeric value of a `CohortTensors` batch."""
    return measured_steps(batch.codes, batch.valid, layout).sum(dim=1).numpy()


@torch.no_grad()
def denoising_gain(synth, frame, roles, seed):
    """Per vital and diffusion time: sigma, squared error / sigma^2, lag-1 error correlation."""
    torch.manual_seed(seed)
    denoiser, schedule, layout = synth.model_, synth.schedule_, synth.layout_
    cohort, batch, profile = real_profiles(synth, frame)
    inputs = profile_inputs(profile, layout) if denoiser.config.profile else None
    measured = measured_steps(batch.codes, batch.valid, layout)
    columns = C.temporal_numeric(roles)
    vitals = {c: columns.index(c) for c in VITALS if c in columns}
    clean = denoiser.clean_state(batch).double()
    t, width, n_values = layout.max_length, layout.temporal.width, layout.n_values

    def values(state):
        return state[:, : t * width].unflatten(1, (t, width))[..., :n_values]

    condition = torch.as_tensor(cohort.condition, dtype=torch.int64)
    if denoiser.n_classes == 0:
        condition = torch.zeros_like(condition)
    rows = []
    for u in DIFFUSION_TIMES:
        sigma = denoiser.expand_sigma(schedule.sigma(torch.full((len(clean),), u)).double())
        noisy = clean + sigma * torch.randn_like(clean)
        out = denoiser.predict(noisy.float(), sigma.float(), condition,
                               None if inputs is None else inputs.float())
        error = out.temporal_values.double() - values(clean)
        level = values(sigma)
        for name, k in vitals.items():
            cells = measured[..., k]
            if cells.sum() < 10:
                continue
            both = cells[:, 1:] & cells[:, :-1]
            lagged = np.corrcoef(error[:, 1:, k][both].numpy(), error[:, :-1, k][both].numpy())
            rows.append({"u": u, "variable": name,
                         "sigma": float(level[..., k][cells].mean()),
                         "error_over_sigma2": float((error[..., k][cells] ** 2).mean()
                                                    / (level[..., k][cells] ** 2).mean()),
                         "error_lag1": float(lagged[0, 1])})
    return pd.DataFrame(rows)


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0], n=1000)
    C.add_sampling_arguments(p, steps=REPLACEMENT_STEPS, sampler=REPLACEMENT_SAMPLER)
    args = p.parse_args(argv)
    if args.docs_from:
        C.docs_from(args.docs_from, write_docs)
        return
    train, test, roles = C.load_split(args.quick, args.seed)
    n = C.QUICK["n"] if args.quick else args.n
    synth = C.default_model(args, train, roles, "second_stage")
    cohorts = {
        "default": synth.sample(n, steps=args.steps, sampler=args.sampler,
                                random_state=args.seed),
        "real first stage": given_real_first_stage(synth, patients(train, roles, n), roles,
                                                   args.steps, args.sampler, args.seed),
    }
    rows = []
    for name, synthetic in cohorts.items():
        scores = evaluate(train, synthetic, test, discriminators=DISCRIMINATORS,
                          random_state=args.seed, **roles)
        rows.append({"cohort": name, **{k: scores.get(k) for k in SCORES}})
        print(json.dumps(rows[-1], default=float), flush=True)
    floor = real_vs_real(pd.concat([train, test]), discriminators=DISCRIMINATORS,
                         random_state=args.seed, **roles)
    rows.append({"cohort": "real vs real (floor)", **{k: floor.get(k) for k in SCORES}})
    table = pd.DataFrame(rows)
    tells = value_tells(cohorts["real first stage"], test, roles, args.seed)
    gain = denoising_gain(synth, test, roles, args.seed)
    result = {**C.sampled_model_result(args, synth), "table": C.table_to_json(table),
              "tells": C.table_to_json(tells), "gain": C.table_to_json(gain)}
    C.print_table(table)
    C.print_table(tells)
    C.print_table(gain_table(gain))
    C.finish("second_stage", result, args, write_docs)


def gain_table(gain):
    """One row per diffusion time, one column per vital: 'sigma: error/sigma^2 (lag-1)'."""
    if gain.empty:
        return gain
    cell = gain.apply(lambda r: f"{r['sigma']:.2f}: {r['error_over_sigma2']:.2f} "
                                f"({r['error_lag1']:+.2f})", axis=1)
    return (gain.assign(cell=cell).pivot(index="u", columns="variable", values="cell")
            .reindex(columns=[v for v in VITALS if v in set(gain["variable"])])
            .reset_index())


def tells_table(tells):
    """The per-variable table with each movement statistic as 'real / drawn'."""
    tells = C.table_from_json(tells)
    out = tells[["variable", "values_auroc", "floor"]].copy()
    for name in ("median_step", "repeats", "lag1"):
        out[name] = [f"{C.fmt(float(a))} / {C.fmt(float(b))}"
                     for a, b in zip(tells[f"{name}_real"], tells[f"{name}_synthetic"])]
    return out


def write_docs(result, path=None):
    table = C.table_from_json(result["table"])
    gain = C.table_from_json(result["gain"]).astype(
        {"u": float, "sigma": float, "error_over_sigma2": float, "error_lag1": float})
    # results saved before the sampler was recorded sampled both cohorts at 50 Euler steps
    sampling = C.sampling_words({"steps": REPLACEMENT_STEPS, **result})
    lines = [f"Command: `{result['command']}` ({result['optimizer_steps']} optimizer steps) — "
             f"machine: {C.machine_line(result['machine'])}. Both cohorts at {sampling}.", "",
             *C.markdown_table(table), ""]
    if "tells" in result:
        lines += ["Which values give the stays away (real first stage against the unseen "
                  "patients, one variable at a time: values-alone AUROC beside its floor; "
                  "median absolute step between consecutive measurements, share of exact "
                  "repeats and lag-1 autocorrelation of the deviations from the stay's mean, "
                  "real / drawn):", "", *C.markdown_table(tells_table(result["tells"])), ""]
    lines += ["Where the denoiser leaves noise in (unseen patients given their own profiles; "
              "per cell: sigma: squared error / sigma^2 (lag-1 correlation of the error along "
              "the stay)):", "", *C.markdown_table(gain_table(gain))]
    C.update_docs("second_stage", "The second stage alone", lines, path)


if __name__ == "__main__":
    main()
