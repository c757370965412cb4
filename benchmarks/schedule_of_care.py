"""How realistic can a schedule of care be on its own? Candidate models of the measurement masks.

The hour-by-hour yardstick tells the default's masks from real ones at about 0.97 (masks-only
GRU discriminator). This script measures candidate models of the masks alone, before any of
them drives the values: each synthetic patient is a real training patient whose values and
statics are kept and whose masks (which variables are measured at which hour) are drawn by
the candidate, conditioned on the patient's class. Scores are against the unseen patients,
beside the real-vs-real floor; the default's masks-only score comes from the headline results.

The candidates are autoregressive over the hours: a GRU reads the previous hour's masks, the
hours since each variable was last measured and the time of day in the stay, and draws the
next hour's co-measurement pattern from a vocabulary of the patterns that at least
`MIN_PATIENTS` training patients have (the model keeps no one's rare pattern). They differ in
how an hour whose pattern is rarer than that is handled:

* ``bits``: a "rare" token, then each variable's mask drawn on its own;
* ``nearest``: trained on the nearest shared pattern (Hamming distance), so only shared
  patterns are drawn;
* ``edits``: the nearest shared pattern, then per variable whether it differs from it, given
  the GRU state and the pattern (rare patterns come out as small edits of common ones).

Only stays of one regular length are supported (the bundled data: 48 hourly rows).

    python benchmarks/schedule_of_care.py
"""

from __future__ import annotations

import json
import time

import _common as C
import numpy as np
import pandas as pd
import torch
from torch import nn

from cdmtehr.disclosure import MIN_PATIENTS
from cdmtehr.evaluation import evaluate, real_vs_real

VARIANTS = ("bits", "nearest", "edits")
CARE = ["care_patterns_ratio", "care_unseen_pattern_share", "care_gap_ks_median",
        "care_first_hour_diff_mean", "care_repeat_ratio", "care_empty_hours_diff"]


def stay_masks(df, roles):
    """(N, T, V) bool masks of the numeric columns and the temporal categorical ones, with the
    patients' ids (sorted) and the column names."""
    id_col, time_col = roles["id_col"], roles["time_col"]
    df = df.sort_values([id_col, time_col])
    columns = [*roles["num_cols"], *(c for c in roles.get("cat_cols", []) if c not in
                                     roles.get("static_cols", []))]
    lengths = df.groupby(id_col, sort=True).size()
    if lengths.nunique() != 1:
        raise SystemExit("schedule_of_care.py supports stays of one length only.")
    n, t = len(lengths), int(lengths.iloc[0])
    return df[columns].notna().to_numpy().reshape(n, t, len(columns)), lengths.index, columns


class Vocabulary:
    """The hourly patterns that at least `min_patients` patients have, and each hour's token."""

    def __init__(self, masks, min_patients, nearest):
        n, t, v = masks.shape
        packed = np.packbits(masks, axis=2).reshape(n * t, -1)
        keys, inverse = np.unique(packed, axis=0, return_inverse=True)
        inverse = inverse.reshape(n, t)
        pairs = np.unique(np.column_stack([inverse.ravel(), np.repeat(np.arange(n), t)]), axis=0)
        patients = np.bincount(pairs[:, 0], minlength=len(keys))
        shared = np.flatnonzero(patients >= min_patients)
        self.rare = len(shared)  # the token of a rare pattern (variant "bits")
        lookup = np.full(len(keys), self.rare)
        lookup[shared] = np.arange(len(shared))
        bits = np.unpackbits(keys, axis=1)[:, :v].astype(np.int16)
        if nearest:
            rare = np.flatnonzero(lookup == self.rare)
            for chunk in np.array_split(rare, max(1, len(rare) // 512)):
                distance = np.abs(bits[chunk, None, :] - bits[None, shared, :]).sum(-1)
                lookup[chunk] = distance.argmin(1)
        self.tokens = torch.as_tensor(lookup[inverse])
        self.patterns = torch.as_tensor(bits[shared].astype(np.float32))
        self.cover = float((lookup[inverse] != self.rare).mean())


class PatternModel(nn.Module):
    """A GRU over the hours that draws each hour's pattern token (and, per variant, edits)."""

    def __init__(self, n_variables, n_tokens, n_classes, hidden, variant):
        super().__init__()
        self.variant, self.n_classes = variant, n_classes
        self.start = nn.Embedding(n_classes, hidden)
        self.inputs = nn.Linear(2 * n_variables + 1 + n_classes, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.token = nn.Linear(hidden, n_tokens + 1)
        self.bits = nn.Linear(hidden, n_variables)
        self.edit = nn.Sequential(nn.Linear(hidden + n_variables, hidden), nn.ReLU(),
                                  nn.Linear(hidden, n_variables))

    def forward(self, features, classes, state=None):
        if state is None:
            state = torch.tanh(self.start(classes))[None]
        onehot = nn.functional.one_hot(classes, self.n_classes).float()
        onehot = onehot[:, None, :].expand(-1, features.shape[1], -1)
        hidden, state = self.gru(torch.relu(self.inputs(torch.cat([features, onehot], -1))),
                                 state)
        return hidden, state


def step_features(previous, since, hour, length):
    """Inputs of one hour: the previous hour's masks, hours since each variable (capped at a
    day, over 24), and the hour of the stay over its length."""
    return torch.cat([previous, since / 24, torch.full_like(previous[:, :1], hour / length)], -1)


def teacher_features(masks):
    """`step_features` of every hour of real stays (the masks of the hour before)."""
    n, t, v = masks.shape
    previous = torch.cat([torch.zeros(n, 1, v), masks[:, :-1]], 1)
    since, run = [], torch.full((n, v), 24.0)
    for hour in range(t):
        run = torch.where(previous[:, hour] > 0, torch.zeros_like(run), (run + 1).clamp_max(24))
        since.append(step_features(previous[:, hour], run, hour, t))
    return torch.stack(since, 1)


def loss_of(model, vocabulary, features, masks, classes, index):
    hidden, _ = model(features[index], classes[index])
    tokens, target = vocabulary.tokens[index], masks[index]
    loss = nn.functional.cross_entropy(model.token(hidden).flatten(0, 1), tokens.flatten(),
                                       reduction="none").view_as(tokens)
    if model.variant == "bits":
        bits = nn.functional.binary_cross_entropy_with_logits(
            model.bits(hidden), target, reduction="none").sum(-1)
        loss = loss + (tokens == vocabulary.rare) * bits
    if model.variant == "edits":
        chosen = vocabulary.patterns[tokens.clamp_max(vocabulary.rare - 1)]
        flips = (target != chosen).float()
        loss = loss + nn.functional.binary_cross_entropy_with_logits(
            model.edit(torch.cat([hidden, chosen], -1)), flips, reduction="none").sum(-1)
    return loss.mean()


def train(model, vocabulary, masks, classes, seed, max_epochs, patience=8, features=None):
    """Adam with early stopping on a tenth of the patients; returns epochs and seconds.
    `features`: the inputs of every hour (default `teacher_features` of `masks`)."""
    rng = np.random.default_rng(seed)
    features = teacher_features(masks) if features is None else features
    order = rng.permutation(len(masks))
    validation, training = order[: len(masks) // 10], order[len(masks) // 10:]
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    best, kept, waited, start = np.inf, None, 0, time.perf_counter()
    for epoch in range(max_epochs):
        model.train()
        for batch in np.array_split(rng.permutation(training), max(1, len(training) // 64)):
            loss = loss_of(model, vocabulary, features, masks, classes, batch)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            value = float(loss_of(model, vocabulary, features, masks, classes, validation))
        if value < best - 1e-4:
            best, kept, waited = value, {k: w.clone() for k, w in model.state_dict().items()}, 0
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(kept)
    return {"epochs": epoch + 1, "seconds": time.perf_counter() - start, "validation_loss": best}


@torch.no_grad()
def draw(model, vocabulary, classes, length, generator):
    """Masks (n, T, V) of stays of the given classes."""
    n, v = len(classes), vocabulary.patterns.shape[1]
    out = torch.zeros(n, length, v)
    previous, run, state = torch.zeros(n, v), torch.full((n, v), 24.0), None
    for hour in range(length):
        run = torch.where(previous > 0, torch.zeros_like(run), (run + 1).clamp_max(24))
        hidden, state = model(step_features(previous, run, hour, length)[:, None], classes, state)
        hidden = hidden[:, 0]
        logits = model.token(hidden)
        if model.variant != "bits":
            logits = logits[:, : vocabulary.rare]
        token = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0]
        row = vocabulary.patterns[token.clamp_max(vocabulary.rare - 1)]
        if model.variant == "bits":
            own = torch.bernoulli(torch.sigmoid(model.bits(hidden)), generator=generator)
            row = torch.where((token == vocabulary.rare)[:, None], own, row)
        if model.variant == "edits":
            flips = torch.bernoulli(torch.sigmoid(model.edit(torch.cat([hidden, row], -1))),
                                    generator=generator)
            row = (row + flips) % 2
        out[:, hour] = row
        previous = row
    return out.numpy() > 0


def with_masks(train_df, roles, ids, columns, picked, masks):
    """Copies of the picked training patients, with fresh ids and the drawn masks: a value
    the patient lacks where the mask says measured is the column's median (or mode)."""
    id_col, time_col = roles["id_col"], roles["time_col"]
    frame = train_df.sort_values([id_col, time_col]).reset_index(drop=True)
    length = masks.shape[1]
    rows = (picked[:, None] * length + np.arange(length)[None, :]).ravel()
    out = frame.iloc[rows].reset_index(drop=True)
    out[id_col] = np.repeat(np.arange(len(picked)), length) + int(frame[id_col].max()) + 1
    flat = masks.reshape(-1, len(columns))
    for j, column in enumerate(columns):
        values = out[column]
        typical = (train_df[column].median() if pd.api.types.is_numeric_dtype(values)
                   and not isinstance(values.dtype, pd.CategoricalDtype)
                   else train_df[column].mode().iloc[0])
        out[column] = values.fillna(typical).where(flat[:, j])
    return out


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0], n=1000)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--max-epochs", type=int, default=60)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    args = p.parse_args(argv)
    if args.docs_from:
        C.docs_from(args.docs_from, write_docs)
        return
    torch.manual_seed(args.seed)
    train_df, test_df, roles = C.load_split(args.quick, args.seed)
    n = C.QUICK["n"] if args.quick else args.n
    masks, ids, columns = stay_masks(train_df, roles)
    condition = roles["condition_col"]
    per_patient = train_df.groupby(roles["id_col"], sort=True)[condition].first()
    levels, codes = np.unique(per_patient.loc[ids].to_numpy(), return_inverse=True)
    classes = torch.as_tensor(codes)
    rng = np.random.default_rng(args.seed)
    picked = rng.choice(len(ids), n, replace=True)
    discriminators = ("sequence_masks",)
    rows = []
    floor = real_vs_real(pd.concat([train_df, test_df]), discriminators=discriminators,
                         with_holdout=False, random_state=args.seed, **roles)
    for variant in args.variants:
        vocabulary = Vocabulary(masks, MIN_PATIENTS, nearest=variant != "bits")
        model = PatternModel(len(columns), vocabulary.rare, len(levels),
                             C.QUICK["hidden_size"] if args.quick else args.hidden, variant)
        fit = train(model, vocabulary, torch.as_tensor(masks, dtype=torch.float32), classes,
                    args.seed, 1 if args.quick else args.max_epochs)
        drawn = draw(model, vocabulary, classes[picked], masks.shape[1],
                     torch.Generator().manual_seed(args.seed))
        synthetic = with_masks(train_df, roles, ids, columns, picked, drawn)
        scores = evaluate(train_df, synthetic, test_df, discriminators=discriminators,
                          random_state=args.seed, **roles)
        rows.append({"model": variant, "vocabulary": vocabulary.rare,
                     "cover": vocabulary.cover, **fit,
                     "masks_auroc": scores["disc_sequence_masks_auroc"],
                     **{k: scores.get(k) for k in CARE}})
        print(json.dumps({k: v for k, v in rows[-1].items()}, default=float), flush=True)
    table = pd.DataFrame(rows)
    headline = C.RESULTS / "physionet_cpu.json"
    default = None
    if headline.exists() and not args.quick:
        default = json.loads(headline.read_text())["scores"].get("disc_sequence_masks_auroc")
    result = {"command": C.command(), "machine": C.machine(), "quick": args.quick,
              "table": C.table_to_json(table), "floor": C.numbers_only(floor),
              "default_masks_auroc": default}
    C.print_table(table)
    print("real vs real, masks only:", C.fmt(floor.get("disc_sequence_masks_auroc")))
    path = C.save_result("schedule_of_care", result, args.quick, args.output)
    print(f"wrote {path}")
    if not args.quick and args.output is None:
        write_docs(result)


def write_docs(result, path=None):
    table = C.table_from_json(result["table"])
    floor = result["floor"].get("disc_sequence_masks_auroc")
    lines = [f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
             "", *C.markdown_table(table), "",
             f"Real vs real (floor), masks only: {C.fmt(floor)}. The default model's masks "
             f"alone, in the headline run: {C.fmt(result.get('default_masks_auroc'))}."]
    C.update_docs("schedule_of_care", "The schedule of care alone", lines, path)


if __name__ == "__main__":
    main()
