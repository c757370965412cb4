"""Building a denoiser: from a training cohort (`fit`) or from a model file (`load`)."""

from __future__ import annotations

import numpy as np
import torch

from .._blocks import patient_blocks
from .denoiser import Denoiser, DenoiserConfig, repeat_flags
from .layout import StateLayout


def denoiser_config(
    tensors, layout: StateLayout, *, n_classes: int, hidden_size: int, num_layers: int,
    profile: bool = False,
) -> DenoiserConfig:
    """The `DenoiserConfig` of a training cohort (`CohortTensors` laid out by `layout`)."""
    temporal, static = categorical_frequencies(tensors, layout)
    return DenoiserConfig(
        n_classes=n_classes,
        temporal_frequencies=temporal,
        static_frequencies=static,
        smoothing_scale=numeric_step_scales(tensors, layout),
        hidden_size=hidden_size,
        num_layers=num_layers,
        profile=profile,
    )


# The smoothing scale of every numeric value when no patient may inform it: the typical change
# between two measurements in normal-score units (PhysioNet's values range from 0.2 to 0.8).
PUBLIC_SMOOTHING_SCALE = 0.5


def public_denoiser_config(
    tensors, layout: StateLayout, *, n_classes: int, hidden_size: int, num_layers: int,
    profile: bool = False,
) -> DenoiserConfig:
    """A `DenoiserConfig` that reads no patient: uniform marginals, one smoothing scale.

    Differentially private training uses it: the marginals set the initial logit biases and
    calibrate the cross-entropies, the scales damp the smoothing, and all of them would
    otherwise be statistics of the training patients outside the privacy guarantee.
    """
    def uniform(levels):
        return [np.full(n, 1.0 / n) for n in levels]

    return DenoiserConfig(
        n_classes=n_classes,
        temporal_frequencies=uniform(layout.temporal.categorical_levels),
        static_frequencies=uniform(layout.static.categorical_levels),
        smoothing_scale=[PUBLIC_SMOOTHING_SCALE] * layout.n_values,
        hidden_size=hidden_size,
        num_layers=num_layers,
        profile=profile,
    )


def build_denoiser(
    layout: StateLayout, config: DenoiserConfig, generator: torch.Generator | None = None
) -> Denoiser:
    """The denoiser of `config` on `layout`, on the CPU.

    Its initial weights are drawn from a seed taken from `generator`, never from torch's global
    seed, so that a seeded fit gives the same weights whatever ran before. Without a generator
    (a model file's weights are loaded over them) they are drawn from a fork of torch's global
    generator, which is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        if generator is not None:
            torch.manual_seed(int(torch.randint(2**31 - 1, (), generator=generator)))
        return Denoiser(layout, config)


def numeric_step_scales(tensors, layout: StateLayout) -> list:
    """Per temporal numeric value: RMS change between consecutive measurements of a stay / sqrt 2.

    Unmeasured cells hold the last measurement (forward fill), so the change at a measured
    step is its value minus the previous cell's. 0 for a value that never changes (a weight
    charted again and again) and for values measured at most once per stay.

    Measurements at the mask level "repeated" are left out: they are decoded as exact copies,
    so the changes the denoiser has to keep are those between distinct measurements. Counting
    the repeats' zero changes shrinks the scale (FiO2: 74 % repeats), which keeps the smoothing
    on down to low noise and flattens the channel.
    """
    total = squares = 0
    for block in patient_blocks(tensors.values):  # int64 counts of all would be GBs
        values = tensors.values[block]
        observed = tensors.observed[block] & tensors.valid[block][..., None]
        seen_before = torch.cumsum(observed.long(), dim=1)[:, :-1] > 0
        counted = observed[:, 1:] & seen_before
        if layout.repeated_values:
            counted &= ~repeat_flags(tensors.codes[block], layout)[:, 1:]
        change = (values[:, 1:] - values[:, :-1]) * counted
        total = total + counted.sum(dim=(0, 1))
        squares = squares + (change**2).sum(dim=(0, 1))
    return ((squares / total.clamp_min(1) / 2).sqrt()).tolist()


def categorical_frequencies(tensors, layout: StateLayout) -> tuple:
    """Marginal level frequencies of each temporal and static categorical feature.

    Temporal features are counted over valid steps, except the validity flag (all steps).
    """
    temporal = []
    valid = tensors.valid
    n_cat = layout.temporal.n_categorical
    for j, levels in enumerate(layout.temporal.categorical_levels):
        codes = tensors.codes[..., j]
        is_validity = layout.has_validity and j == n_cat - 1
        codes = codes.reshape(-1) if is_validity else codes[valid]
        temporal.append(_frequencies(codes, levels))
    static = [
        _frequencies(tensors.static_codes[:, j], levels)
        for j, levels in enumerate(layout.static.categorical_levels)
    ]
    return temporal, static


def _frequencies(codes: torch.Tensor, levels: int) -> np.ndarray:
    counts = torch.bincount(codes.reshape(-1).cpu(), minlength=levels).double()
    return (counts / counts.sum().clamp_min(1)).numpy()
