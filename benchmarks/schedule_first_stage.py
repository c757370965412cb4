"""Can a model of the schedule of care be the first stage? End to end, beside the default.

schedule_of_care.py draws masks into real patients' stays. Here a schedule model is the first
stage of a fitted default model, and the default's second stage draws everything else: each
synthetic patient's masks (which numeric value is measured at which hour) come from the
schedule model, the profile's counts are those of the drawn masks, and the profile trees draw
each value's mean and sd given the stay's length and those counts; then the denoiser draws
the statics, the temporal categories and every measured value given the masks (completion's
replacement conditioning) and the profile. Candidates:

* ``edits`` (schedule_of_care.py): the masks drawn given the patient's class;
* ``budget``: the profile trees draw the whole profile first, and the edits model, also given
  per value the measurements still to place over the hours left and the stay's drawn share,
  places them in time (the counts come out near the drawn ones; the means and sds are then
  drawn again given the counts placed).

Scored against the unseen patients beside the default's own patients and the real-vs-real
floor. Stays of one regular length only (the bundled data: 48 hourly rows).

    python benchmarks/schedule_first_stage.py --model benchmarks/results/models/default_600s.cdmt
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import _common as C
import numpy as np
import pandas as pd
import schedule_of_care as SC
import torch
from torch import nn

from cdmtehr.completion.frames import imputation_patients
from cdmtehr.profiles import StayProfile
from cdmtehr.disclosure import MIN_PATIENTS
from cdmtehr.evaluation import evaluate, real_vs_real
from cdmtehr.preprocessing import EncodedCohort
from cdmtehr.profiles import draw_profiles
from cdmtehr.sampling import generate

CANDIDATES = ("edits", "budget")
DISCRIMINATORS = ("summary", "sequence", "sequence_masks", "sequence_values")
SCORES = [f"disc_{name}_auroc" for name in DISCRIMINATORS] + [
    "ks_mean", "missing_rate_diff", "tstr_trtr_auroc_ratio", "dcr_ratio", "care_patterns_ratio",
    "care_unseen_pattern_share", "care_gap_ks_median", "care_repeat_ratio"]


class BudgetModel(SC.PatternModel):
    """The edits model with, per value, its measurements still to come over the hours left
    and its share of the stay among the inputs of every hour."""

    def __init__(self, n_variables, n_tokens, n_classes, hidden):
        super().__init__(n_variables, n_tokens, n_classes, hidden, "edits")
        self.inputs = nn.Linear(4 * n_variables + 1 + n_classes, hidden)


def budget_inputs(remaining, hours_left, share):
    return torch.cat([remaining / hours_left, share], -1)


def budget_teacher_features(masks):
    """`schedule_of_care.teacher_features` and, at each hour of real stays, the budget
    inputs: the measurements from that hour on over the hours left, and the stay's share."""
    n, t, _ = masks.shape
    remaining = masks.flip(1).cumsum(1).flip(1)
    hours_left = torch.arange(t, 0, -1, dtype=torch.float32)[None, :, None]
    share = (masks.sum(1, keepdim=True) / t).expand_as(masks)
    return torch.cat([SC.teacher_features(masks), budget_inputs(remaining, hours_left, share)],
                     -1)


@torch.no_grad()
def draw_with_budget(model, vocabulary, classes, counts, length, generator):
    """Masks (n, T, V) placing about `counts` (n, V) measurements of each value."""
    n, v = counts.shape
    out = torch.zeros(n, length, v)
    previous, run, state = torch.zeros(n, v), torch.full((n, v), 24.0), None
    left, share = counts.float().clone(), counts.float() / length
    for hour in range(length):
        run = torch.where(previous > 0, torch.zeros_like(run), (run + 1).clamp_max(24))
        features = torch.cat([SC.step_features(previous, run, hour, length),
                              budget_inputs(left, length - hour, share)], -1)
        hidden, state = model(features[:, None], classes, state)
        hidden = hidden[:, 0]
        logits = model.token(hidden)[:, : vocabulary.rare]
        token = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0]
        row = vocabulary.patterns[token]
        flips = torch.bernoulli(torch.sigmoid(model.edit(torch.cat([hidden, row], -1))),
                                generator=generator)
        row = (row + flips) % 2
        out[:, hour], previous, left = row, row, (left - row).clamp_min(0)
    return out.numpy() > 0


def value_columns(synth):
    """Names of the numeric values of the layout and, per masked value, its column position."""
    names = list(synth.preprocessor_.roles_.temporal_num_cols)
    return names, {names[value]: position
                   for position, value in enumerate(synth.layout_.masked_values)
                   if value < len(names)}


def profiles_given_counts(synth, classes, lengths, counts, seed):
    """`StayProfile`s whose lengths and counts are given and whose means and sds the
    profile trees of each class draw given them."""
    model, layout = synth.profile_model_, synth.layout_
    n_masks, n_values = len(layout.masked_values), layout.n_values
    given = np.column_stack([lengths, counts]).astype(float)
    rows = np.empty((len(classes), len(model.models[0].trees_) + 1))
    rng = np.random.default_rng(seed)
    for klass, trees in zip(model.classes, model.models):
        members = np.flatnonzero(classes == klass)
        if len(members):
            rows[members] = trees.sample(len(members), rng, given=given[members])
    start = 1 + n_masks
    return StayProfile(
        counts=torch.as_tensor(counts.astype(np.int64)),
        lengths=torch.as_tensor(np.asarray(lengths).astype(np.int64)),
        means=torch.as_tensor(np.nan_to_num(rows[:, start : start + n_values]),
                              dtype=torch.float32),
        sds=torch.as_tensor(np.nan_to_num(rows[:, start + n_values :]), dtype=torch.float32),
    )


def stays_given_masks(synth, train, roles, columns, masks, classes, seed):
    """Synthetic patients whose numeric masks are `masks` (n, T, V over `columns`) and whose
    statics, categories and values the default model draws given them and a profile."""
    pre, layout, denoiser = synth.preprocessor_, synth.layout_, synth.model_
    id_col, time_col, condition = roles["id_col"], roles["time_col"], roles["condition_col"]
    n, length, _ = masks.shape
    frame = pd.DataFrame({id_col: np.repeat(np.arange(n), length),
                          time_col: np.tile(np.arange(length), n)})
    hidden = pd.DataFrame(False, index=frame.index, columns=train.columns)
    flat = masks.reshape(n * length, -1)
    for j, column in enumerate(columns):  # a placeholder where measured, drawn by the model
        frame[column] = np.where(flat[:, j], float(train[column].median()), np.nan)
        hidden[column] = flat[:, j]
    for column in train.columns:
        if column in frame or column == condition:
            continue
        if column in roles["static_cols"]:  # drawn, measured or not, by the model
            frame[column] = train[column].dropna().iloc[0]
        else:  # a temporal category: its measurement is drawn by the model too
            frame[column] = pd.Series([None] * len(frame), dtype=train[column].dtype)
    frame[condition] = synth.classes_[np.repeat(classes, length)]
    frame = frame[train.columns].astype(train.dtypes.to_dict())
    known, drawn_classes, _, _ = imputation_patients(
        frame, hidden, pre, layout, nan="unmeasured", condition=None,
        owner="schedule_first_stage")
    codes = known.codes.copy()
    n_masks = len(layout.masked_values)
    codes[..., n_masks : n_masks + len(pre.categorical_names_)] = False
    known = replace(known, codes=codes, static_values=np.zeros_like(known.static_values),
                    static_codes=np.zeros_like(known.static_codes),
                    static_hidden=np.zeros_like(known.static_hidden))
    observed = known.cohort.observed | known.hidden
    counts = observed[:, :, list(layout.masked_values)].sum(axis=1)
    profiles = profiles_given_counts(synth, drawn_classes, known.cohort.lengths, counts, seed)
    chunks = generate(denoiser, synth.schedule_, drawn_classes, steps=50,
                      generator=torch.Generator().manual_seed(seed),
                      batch_size=synth.sample_batch_size, known=known.states(denoiser),
                      profiles=lambda start, stop: profiles[start:stop])
    levels = dict(categorical_levels=pre.categorical_levels_, n_classes=len(synth.classes_),
                  static_categorical_levels=pre.static_categorical_levels_)
    cohort = EncodedCohort.concat([EncodedCohort(**arrays, **levels) for arrays in chunks])
    return pre.inverse_transform(replace(cohort, observed=observed))


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0], n=1000)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--max-epochs", type=int, default=60)
    args = p.parse_args(argv)
    if args.docs_from:
        C.docs_from(args.docs_from, write_docs)
        return
    torch.manual_seed(args.seed)
    train, test, roles = C.load_split(args.quick, args.seed)
    n = C.QUICK["n"] if args.quick else args.n
    synth = C.default_model(args, train, roles, "schedule_first_stage")
    all_masks, ids, all_columns = SC.stay_masks(train, roles)
    names, mask_position = value_columns(synth)
    keep = [j for j, c in enumerate(all_columns) if c in mask_position]
    masks, columns = all_masks[..., keep], [all_columns[j] for j in keep]
    per_patient = train.groupby(roles["id_col"], sort=True)[roles["condition_col"]].first()
    codes = np.searchsorted(synth.classes_, per_patient.loc[ids].to_numpy())
    rng = np.random.default_rng(args.seed)
    classes = rng.choice(len(synth.classes_), n, p=synth.class_prior_)
    epochs = 1 if args.quick else args.max_epochs
    hidden = C.QUICK["hidden_size"] if args.quick else args.hidden
    teacher = torch.as_tensor(masks, dtype=torch.float32)
    generator = torch.Generator().manual_seed(args.seed)
    cohorts, fits = {"default": synth.sample(n, random_state=args.seed)}, {}
    for name in CANDIDATES:
        vocabulary = SC.Vocabulary(masks, MIN_PATIENTS, nearest=True)
        if name == "edits":
            model = SC.PatternModel(len(columns), vocabulary.rare, len(synth.classes_), hidden,
                                    "edits")
            fits[name] = SC.train(model, vocabulary, teacher, torch.as_tensor(codes),
                                  args.seed, epochs)
            drawn = SC.draw(model, vocabulary, torch.as_tensor(classes), masks.shape[1],
                            generator)
        else:
            model = BudgetModel(len(columns), vocabulary.rare, len(synth.classes_), hidden)
            fits[name] = SC.train(model, vocabulary, teacher, torch.as_tensor(codes),
                                  args.seed, epochs, features=budget_teacher_features(teacher))
            profile = draw_profiles(synth.profile_model_, classes, synth.layout_, generator)
            counts = torch.stack([profile.counts[:, mask_position[c]] for c in columns], 1)
            drawn = draw_with_budget(model, vocabulary, torch.as_tensor(classes), counts,
                                     masks.shape[1], generator)
            fits[name]["count_error"] = float(
                np.abs(drawn.sum(axis=1) - counts.numpy()).mean())
        cohorts[name] = stays_given_masks(synth, train, roles, columns, drawn, classes,
                                          args.seed)
        print(json.dumps({"candidate": name, **fits[name]}, default=float), flush=True)
    rows = []
    for name, synthetic in cohorts.items():
        start = time.perf_counter()
        scores = evaluate(train, synthetic, test, discriminators=DISCRIMINATORS,
                          random_state=args.seed, **roles)
        rows.append({"first stage": name if name != "default" else "profile trees (default)",
                     **{k: fits.get(name, {}).get(k) for k in ("epochs", "count_error")},
                     **{k: scores.get(k) for k in SCORES}})
        print(json.dumps(rows[-1], default=float),
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    floor = real_vs_real(pd.concat([train, test]), discriminators=DISCRIMINATORS,
                         random_state=args.seed, **roles)
    rows.append({"first stage": "real vs real (floor)", **{k: floor.get(k) for k in SCORES}})
    table = pd.DataFrame(rows)
    history = synth.get_loss_values()
    result = {"command": C.command(), "machine": C.machine(), "quick": args.quick,
              "model": args.model, "optimizer_steps": int(history["steps"].iloc[-1]),
              "fits": fits, "table": C.table_to_json(table)}
    C.print_table(table)
    path = C.save_result("schedule_first_stage", result, args.quick, args.output)
    print(f"wrote {path}")
    if not args.quick and args.output is None:
        write_docs(result)


def write_docs(result, path=None):
    table = C.table_from_json(result["table"])
    lines = [f"Command: `{result['command']}` ({result['optimizer_steps']} optimizer steps of "
             f"the default model) — machine: {C.machine_line(result['machine'])}.", "",
             *C.markdown_table(table)]
    C.update_docs("schedule_first_stage", "A schedule of care as the first stage", lines, path)


if __name__ == "__main__":
    main()
