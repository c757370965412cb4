"""Charting: at which steps of a stay each value is measured, drawn step after step.

Real stays are charted in rounds (a coma score and a temperature every 4 hours, with checks in
between) and their labs come in panels drawn together. A denoiser that sees the whole stay at
once learns that rhythm slowly, with passes over the data (docs/method.md); a model that draws
the stay one step after the other, reading what was measured so far, learns it in a few passes.

What is charted (`charted_features`): the observation mask of each masked value, and whether
each temporal categorical column that can be missing is recorded. `ChartingNetwork` reads, at
each step, the steps before it (what each feature recorded at the last one and the steps since
its latest record) and the patient's profile (`charting_context`), with a GRU; the step's
records come from a masked autoencoder for distribution estimation (MADE, Germain et al. 2015)
given the GRU's state: one feature after the other in a fixed order, each given the ones
before, so that values measured together are drawn together. `fit_charting_model` trains it
by maximum likelihood on the training patients' records, early-stopped on held-out patients;
`draw_charts` draws the records of given profiles.

A fitted `ChartingModel` holds network weights only, no patient's data.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional

logger = logging.getLogger(__name__)

# Steps since a value's latest measurement are read up to this many (a day at hourly steps);
# longer, and never measured, read the same.
SINCE_CAP = 24
# Share of the training patients held out to stop training when their likelihood stops
# improving, and the epochs without improvement that stop it.
VALIDATION_SHARE = 0.1
PATIENCE = 5
MAX_EPOCHS = 200
# Share of `fit`'s max_time that the charting model may take at most (the denoiser gets the
# rest). It usually stops on its held-out patients well before: the cap binds only on small
# budgets or loaded machines, where a model cut short draws visibly wrong schedules.
CHARTING_SHARE = 0.25
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
HIDDEN_SIZE = 128
AUTOENCODER_WIDTH = 256
# Patients drawn at a time.
DRAW_BATCH = 1024


@dataclass
class ChartingModel:
    """A fitted `ChartingNetwork`, as stored in a model file.

    Attributes
    ----------
    config : dict
        The network's sizes (`ChartingNetwork` arguments).
    weights : dict of ndarray
        Its state dict, as float32 arrays.
    features : list of [int, int]
        What it charts (`charted_features`): per feature its index among the temporal
        categorical features and the code that means "not recorded".
    n_classes : int
        Condition classes it reads (0: none).
    epochs : int
        Passes over the training patients.
    """

    config: dict
    weights: dict
    features: list
    n_classes: int
    epochs: int

    def network(self) -> ChartingNetwork:
        """The network, with its fitted weights, in evaluation mode."""
        network = ChartingNetwork(**self.config)
        network.load_state_dict({name: torch.as_tensor(array)
                                 for name, array in self.weights.items()})
        return network.eval().requires_grad_(False)


class MaskedAutoencoder(nn.Module):
    """P(m_1, ..., m_K | h) of K binary measurements as a product of P(m_k | m_<k, h).

    One hidden layer whose units see only the inputs before their degree (Germain et al.
    2015, eq. 12-13), plus the context h, which every unit and output sees.
    """

    def __init__(self, n_outputs: int, width: int, context_size: int):
        super().__init__()
        self.n_outputs = n_outputs
        inputs = torch.arange(n_outputs)
        degrees = torch.arange(width) % max(n_outputs - 1, 1)
        self.register_buffer("input_mask", (degrees[:, None] >= inputs[None, :]).float())
        self.register_buffer("output_mask", (inputs[:, None] > degrees[None, :]).float())
        self.hidden = nn.Linear(n_outputs, width)
        self.hidden_context = nn.Linear(context_size, width)
        self.output = nn.Linear(width, n_outputs)
        self.output_context = nn.Linear(context_size, n_outputs)

    def forward(self, measured: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Logits (..., K) of each measurement given the ones before it and `context`."""
        hidden = functional.linear(measured, self.hidden.weight * self.input_mask,
                                   self.hidden.bias)
        hidden = torch.relu(hidden + self.hidden_context(context))
        logits = functional.linear(hidden, self.output.weight * self.output_mask,
                                   self.output.bias)
        return logits + self.output_context(context)

    def sample(self, context: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B, K) float 0/1 measurements drawn given `context` (B, context_size), one after
        the other. Measurement k changes the hidden layer by its own column of weights only,
        so the layer is updated by that column rather than computed again (K times less
        work than K forward passes, the same draws)."""
        batch = context.shape[0]
        measured = torch.zeros(batch, self.n_outputs, device=context.device)
        uniform = torch.rand(measured.shape, generator=generator).to(context.device)
        hidden_weight = self.hidden.weight * self.input_mask
        output_weight = self.output.weight * self.output_mask
        hidden = self.hidden.bias + self.hidden_context(context)
        output = self.output.bias + self.output_context(context)
        for k in range(self.n_outputs):
            logit = torch.relu(hidden) @ output_weight[k] + output[:, k]
            measured[:, k] = (uniform[:, k] < torch.sigmoid(logit)).float()
            hidden = hidden + measured[:, k, None] * hidden_weight[:, k]
        return measured


class ChartingNetwork(nn.Module):
    """A GRU over the steps of a stay and a `MaskedAutoencoder` for each step's records.

    Parameters
    ----------
    n_features : int
        Charted features.
    context_size : int
        Per-patient inputs (`charting_context`).
    hidden_size, autoencoder_width : int
    """

    def __init__(self, n_features: int, context_size: int, hidden_size: int = HIDDEN_SIZE,
                 autoencoder_width: int = AUTOENCODER_WIDTH):
        super().__init__()
        self.n_features = n_features
        self.start = nn.Linear(context_size, hidden_size)
        self.gru = nn.GRU(step_width(n_features) + context_size, hidden_size,
                          batch_first=True)
        self.head = MaskedAutoencoder(n_features, autoencoder_width, hidden_size)

    def initial_state(self, context: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.start(context))[None]

    def log_likelihood(self, recorded, lengths, context, max_length: int) -> tuple:
        """Summed log-likelihood of the records (B, T, S) of whole stays, and the number of
        cells it sums over (steps inside each stay times S)."""
        inputs = history_inputs(recorded, lengths, max_length)
        steps = recorded.shape[1]
        states, _ = self.gru(torch.cat([inputs, context[:, None].expand(-1, steps, -1)], -1),
                             self.initial_state(context))
        logits = self.head(recorded, states)
        inside = (torch.arange(steps, device=recorded.device)[None] < lengths[:, None]).float()
        cells = functional.binary_cross_entropy_with_logits(logits, recorded, reduction="none")
        return -(cells.sum(-1) * inside).sum(), inside.sum() * recorded.shape[2]


def step_width(n_features: int) -> int:
    """Inputs of one step: per feature its last step's record and the steps since its latest
    one; the step's place in the stay and the share of the stay left.

    The drawn counts are read as the patient's context only: given the share of each count
    still to place at every step too, the network follows that budget rather than the rhythm
    of the records (docs/benchmarks.md, *Design choices*).
    """
    return 2 * n_features + 2


def step_inputs(previous, since, step, lengths, max_length) -> torch.Tensor:
    """(B, `step_width`) inputs of step `step` (an int, or (B, T) of them with the other
    arguments broadcast), from the state of the stay before it: `previous`, the last step's
    records (S), and `since`, the steps since each feature's latest record (`SINCE_CAP` or
    more: never, or long ago)."""
    step = torch.as_tensor(step, dtype=torch.float32, device=previous.device)
    left_steps = (lengths.float() - step).clamp_min(0)
    position = (step / max_length).expand(previous.shape[:-1])[..., None]
    stay_left = (left_steps / max_length).expand(previous.shape[:-1])[..., None]
    return torch.cat([previous, since.clamp(max=SINCE_CAP) / SINCE_CAP, position, stay_left],
                     -1)


def history_inputs(recorded, lengths, max_length: int) -> torch.Tensor:
    """`step_inputs` of every step (B, T, `step_width`) of stays recorded at `recorded`
    (B, T, S)."""
    batch, steps, n_features = recorded.shape
    index = torch.arange(steps, device=recorded.device)
    previous = torch.cat([recorded.new_zeros(batch, 1, n_features), recorded[:, :-1]], 1)
    latest = torch.where(previous > 0, index[None, :, None] - 1, -SINCE_CAP - steps)
    latest = torch.cummax(latest, dim=1).values
    since = (index[None, :, None] - latest).float()
    return step_inputs(previous, since, index[None, :].expand(batch, -1), lengths[:, None],
                       max_length)


def context_width(n_masks: int, n_classes: int) -> int:
    """Per-patient inputs (`charting_context`) of a layout with `n_masks` masked values."""
    return 2 * n_masks + 2 + n_classes


def charting_context(counts, lengths, classes, n_classes: int, max_length: int):
    """(B, `context_width`) per-patient inputs: each masked value's count as a share of the
    stay and whether it is measured at all, the stay's length as a share of the longest, a
    "long stay" flag for stays beyond half of it, and the condition class one-hot."""
    counts, lengths = counts.float(), lengths.float()
    share = counts / lengths.clamp_min(1)[:, None]
    parts = [share, (counts > 0).float(), (lengths / max_length)[:, None],
             (lengths > max_length / 2).float()[:, None]]
    if n_classes:
        parts.append(functional.one_hot(classes.long(), n_classes).float())
    return torch.cat(parts, -1)


def charted_features(layout, categorical_missing) -> list:
    """[index among the temporal categorical features, code of "not recorded"] of what a
    chart records: every observation mask (code 0: missing), then every temporal
    categorical column that can be missing (`categorical_missing`, one flag per column in
    layout order; its last level is "missing")."""
    n_masks = len(layout.masked_values)
    features = [[mask, 0] for mask in range(n_masks)]
    levels = layout.to_dict()["temporal_categorical_levels"]
    for column, (missing, n_levels) in enumerate(zip(categorical_missing, levels, strict=True)):
        if missing:
            features.append([n_masks + column, n_levels - 1])
    return features


def _cohort_tensors(cohort, layout, features, index):
    """Records (B, T, S) of the patients `index` inside their stays, the counts of the masked
    values, the lengths and the classes."""
    masked = list(layout.masked_values)
    n_masks = len(masked)
    parts = [cohort.observed[index][:, :, masked]]
    categorical = cohort.categorical[index]
    parts += [categorical[:, :, feature - n_masks, None] != missing
              for feature, missing in features[n_masks:]]
    recorded = torch.as_tensor(np.concatenate(parts, axis=2)).float()
    lengths = torch.as_tensor(cohort.lengths[index])
    steps = torch.arange(recorded.shape[1])
    recorded = recorded * (steps[None, :] < lengths[:, None])[..., None]
    return (recorded, recorded[..., :n_masks].sum(1), lengths,
            torch.as_tensor(cohort.condition[index]))


def fit_charting_model(cohort, layout, categorical_missing, *, generator: torch.Generator,
                       seconds=None, max_epochs: int = MAX_EPOCHS, verbose: bool = False):
    """`ChartingModel` fitted on the records of an `EncodedCohort`, or None with nothing to
    chart.

    Trained by Adam on the negative log-likelihood of the training patients' records, given
    their own profile, until the likelihood of `VALIDATION_SHARE` held-out patients has not
    improved for `PATIENCE` epochs, `max_epochs` have run or `seconds` have passed; the
    weights of the best held-out epoch are kept. `categorical_missing` says which temporal
    categorical columns can be missing (`charted_features`). With `verbose`, each epoch's
    held-out loss is logged.
    """
    features = charted_features(layout, categorical_missing)
    if not features:
        return None
    n_classes = cohort.n_classes
    n = cohort.n_patients
    order = torch.randperm(n, generator=generator).numpy()
    n_validation = int(round(VALIDATION_SHARE * n)) if n >= 20 else 0
    validation, training = order[:n_validation], order[n_validation:]
    config = {"n_features": len(features),
              "context_size": context_width(len(layout.masked_values), n_classes)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31 - 1, (), generator=generator)))
        network = ChartingNetwork(**config)
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)

    def negative_log_likelihood(index):
        recorded, counts, lengths, classes = _cohort_tensors(cohort, layout, features, index)
        context = charting_context(counts, lengths, classes, n_classes, layout.max_length)
        total, cells = network.log_likelihood(recorded, lengths, context, layout.max_length)
        return -total, cells

    def held_out_loss():
        # Per recorded cell over all held-out patients, as in training (long stays weigh more).
        network.eval()
        with torch.no_grad():
            parts = [negative_log_likelihood(validation[start : start + DRAW_BATCH])
                     for start in range(0, n_validation, DRAW_BATCH)]
        return float(sum(total for total, _ in parts)
                     / max(float(sum(cells for _, cells in parts)), 1.0))

    started = time.perf_counter()
    best, best_state, stale, epochs = float("inf"), None, 0, 0
    while epochs < max_epochs and stale < PATIENCE:
        network.train()
        shuffled = training[torch.randperm(len(training), generator=generator).numpy()]
        for start in range(0, len(shuffled), BATCH_SIZE):
            total, cells = negative_log_likelihood(np.sort(shuffled[start : start + BATCH_SIZE]))
            loss = total / cells.clamp_min(1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        epochs += 1
        if n_validation:
            held_out = held_out_loss()
            if held_out < best - 1e-5:
                best, best_state, stale = held_out, copy.deepcopy(network.state_dict()), 0
            else:
                stale += 1
            if verbose:
                logger.info("charting model, epoch %d: held-out loss %.4f, no change %d/%d "
                            "(%.1f s)", epochs, held_out, stale, PATIENCE,
                            time.perf_counter() - started)
        if seconds is not None and time.perf_counter() - started > seconds:
            break
    if best_state is not None:
        network.load_state_dict(best_state)
    weights = {name: tensor.detach().numpy().astype(np.float32)
               for name, tensor in network.state_dict().items()}
    return ChartingModel(config=config, weights=weights, features=features, n_classes=n_classes,
                         epochs=epochs)


@torch.no_grad()
def draw_charts(model: ChartingModel, counts, lengths, classes, max_length: int,
                   generator: torch.Generator) -> torch.Tensor:
    """(B, max_length, S) bool records of the charted features (`ChartingModel.features`)
    of stays of the given `lengths` (B,), whose masked values are meant to be measured
    `counts` (B, n_masks) times, of condition `classes`."""
    network = model.network()
    parts = []
    for start in range(0, len(lengths), DRAW_BATCH):
        part = slice(start, start + DRAW_BATCH)
        parts.append(_draw(network, counts[part], lengths[part], classes[part],
                           model.n_classes, max_length, generator))
    if not parts:
        return torch.zeros(0, max_length, network.n_features, dtype=torch.bool)
    return torch.cat(parts)


def _draw(network, counts, lengths, classes, n_classes, max_length, generator):
    batch, n_features = len(lengths), network.n_features
    context = charting_context(counts, lengths, classes, n_classes, max_length)
    state = network.initial_state(context)
    previous = torch.zeros(batch, n_features)
    since = torch.full((batch, n_features), float(SINCE_CAP + max_length))
    recorded = torch.zeros(batch, max_length, n_features, dtype=torch.bool)
    for step in range(int(lengths.max()) if batch else 0):
        inputs = step_inputs(previous, since, step, lengths, max_length)
        output, state = network.gru(torch.cat([inputs, context], -1)[:, None], state)
        drawn = network.head.sample(output[:, 0], generator)
        drawn = drawn * (step < lengths)[:, None].float()
        recorded[:, step] = drawn > 0
        since = torch.where(drawn > 0, torch.ones_like(since), since + 1)
        previous = drawn
    return recorded
