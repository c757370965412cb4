"""How a drawn profile conditions the second stage: given to the denoiser, held, and kept.

In training, the denoiser reads each patient's own profile (`training_inputs`), hidden from a
share of them so that it also denoises without one. In sampling, three pieces, each around the
paper's ``denoiser(x, sigma, condition) -> denoised``:

* `given_profile` wraps the denoiser so that the network reads each patient's profile
  (`profile_inputs`), the way classifier-free guidance wraps it for the condition;
* `holding_profile` wraps the (guided) denoiser so that, in the sampler's last steps, the
  masks and validity flags of its denoised states keep the drawn length and counts
  (`hold_profile`), and the values and other masks adapt to them;
* `decode_keeping` decodes the final states with the drawn length and counts exactly
  (`keep_counts`) and each value's measurements at the drawn mean and sd (`match_levels`).
"""

from __future__ import annotations

import torch

from .stay import level_statistics, profile_inputs, stay_profile

# Share of training patients shown without their profile, so that the denoiser also samples
# without one: completion knows part of a stay, not its profile.
PROFILE_DROPOUT = 0.1

def training_inputs(batch, layout, hidden=None) -> torch.Tensor:
    """Profile inputs (B, `profile_width`) of training patients' own profiles.

    `batch` is a `CohortTensors` batch; the patients of `hidden` ((B,) bool, optional) get a
    row of zeros, the input of a denoiser that is not given a profile.
    """
    inputs = profile_inputs(stay_profile(batch.values, batch.codes, batch.valid, layout), layout)
    if hidden is not None:
        inputs = torch.where(hidden[:, None], torch.zeros_like(inputs), inputs)
    return inputs


# Noise level of the masks below which a drawn profile is held in the denoised states
# (`holding_profile`). Embeddings have unit scale per coordinate, so from about 1 on the
# signal dominates the noise; measured on the headline protocol (docs/benchmarks.md).
HOLD_PROFILE_BELOW = 1.5


def keep_counts(scores: torch.Tensor, counts: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, F) bool: per patient and feature, the `counts` valid steps of highest score.

    Ties go to the earlier step; a count above the valid steps keeps them all.
    """
    scores = scores.masked_fill(~valid[..., None], float("-inf"))
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    steps = torch.arange(scores.shape[1], device=scores.device)[None, :, None].expand_as(order)
    rank = torch.empty_like(order).scatter_(1, order, steps)
    return (rank < counts[:, None, :]) & valid[..., None]


def match_levels(values, measured, means, sds) -> torch.Tensor:
    """Values (B, T, K) moved so that each value's measurements have the drawn mean and sd.

    One affine map per patient and value, so the shape of the stay is kept: a shift to the
    mean and, where two measurements or more differ, a scaling to the sd. Unmeasured cells
    are left as they are.
    """
    current_mean, current_sd = level_statistics(values, measured)
    n = measured.sum(dim=1)
    spread = (n > 1) & (current_sd > 1e-6)
    scale = torch.where(spread, sds / current_sd.clamp_min(1e-6), torch.ones_like(sds))
    moved = means[:, None] + (values - current_mean[:, None]) * scale[:, None]
    return torch.where(measured, moved, values)


def profile_codes(layout, scores: torch.Tensor, profile) -> tuple:
    """Temporal codes (B, T, n_categorical) that keep the stay's profile, and its steps.

    `scores` are the level scores of the temporal categorical features
    (`Denoiser.level_scores`). The nearest level everywhere, except that the validity flag
    follows the drawn length, and that each charted feature is recorded at its drawn steps
    (`StayProfile.charts`; at its nearest level other than "not recorded") or, with counts
    alone, each masked value is measured at exactly its drawn number of steps: those whose
    state is nearest "measured" rather than "missing" (`keep_counts`).
    """
    n_masks = len(layout.masked_values)
    codes = scores.argmax(-1)
    steps = torch.arange(scores.shape[1], device=scores.device)
    inside = steps[None, :] < profile.lengths[:, None]
    if layout.has_validity:
        codes[..., -1] = inside.long()
    if profile.charts is not None:
        features, missing = profile.charted.to(scores.device).T
        chosen = scores[..., features, :]
        levels = torch.arange(chosen.shape[-1], device=scores.device)
        present = chosen.masked_fill(levels == missing[:, None], float("-inf")).argmax(-1)
        recorded = profile.charts[:, : scores.shape[1]] & inside[..., None]
        codes[..., features] = torch.where(recorded, present, missing)
    elif n_masks:
        masks = scores[..., :n_masks, :]
        margin = masks[..., 1:].amax(-1) - masks[..., 0]
        keep = keep_counts(margin, profile.counts, inside)
        codes[..., :n_masks] = torch.where(keep, masks[..., 1:].argmax(-1) + 1, 0)
    return codes, inside


def profile_dims(layout) -> torch.Tensor:
    """(temporal width,) bool: the numbers of one step that embed a mask or the validity
    flag, the features a profile decides."""
    feature = torch.as_tensor(layout.temporal.dim_to_feature())
    first_mask = layout.n_values
    held = (feature >= first_mask) & (feature < first_mask + len(layout.masked_values))
    if layout.has_validity:
        held |= feature == layout.temporal.n_features - 1
    return held


def profile_cells(denoiser, sigma: torch.Tensor, below: float, dims=None) -> torch.Tensor:
    """(..., T, temporal width) bool: the numbers a profile decides whose noise level, in
    `sigma` ((M,) or (B, M)), is at most `below`; `dims` is `profile_dims` when known."""
    temporal, _ = denoiser.split_state(sigma)
    dims = profile_dims(denoiser.layout) if dims is None else dims
    return dims.to(sigma.device) & (temporal <= below)


@torch.no_grad()
def hold_profile(denoiser, denoised: torch.Tensor, profile, cells=None) -> torch.Tensor:
    """Denoised states (B, M) whose masks and validity flags keep `profile`.

    Those features are replaced by the embeddings of the levels `decode_keeping` would give
    them (the drawn length, each masked value at exactly its drawn count of steps), in `cells`
    ((T, temporal width) or (B, T, temporal width) bool, see `profile_cells`; None: every
    number a profile decides). A sampler that uses this in its last steps lets the values
    and the other masks of the stay adapt to the kept counts, instead of having the counts
    forced on a finished state only.
    """
    temporal, static = denoiser.split_state(denoised)
    n_values = denoiser.layout.n_values
    embedded = temporal[..., n_values:]
    scores = denoiser.temporal_embedding.level_scores(embedded)
    codes, _ = profile_codes(denoiser.layout, scores, profile.to(denoised.device))
    kept = denoiser.temporal_embedding.embed(codes).to(embedded.dtype)
    if cells is None:
        cells = profile_dims(denoiser.layout).to(denoised.device)
    embedded = torch.where(cells[..., n_values:], kept, embedded)
    temporal = torch.cat([temporal[..., :n_values], embedded], dim=-1)
    return torch.cat([temporal.flatten(1), static], dim=-1)


def given_profile(denoiser, profile):
    """`denoiser(x, sigma, condition)` that reads each patient's `profile` (a `StayProfile`
    of the B patients; repeated for guidance's 2B rows)."""
    inputs = profile_inputs(profile, denoiser.layout)

    def given(x, sigma, condition):
        return denoiser(x, sigma, condition, inputs.repeat(x.shape[0] // inputs.shape[0], 1))

    return given


def holding_profile(guided, denoiser, profile):
    """`guided`, whose denoised states keep `profile` where its features' noise is low.

    A mask or validity number whose own noise level (the schedule is per feature and per
    step) is at most `HOLD_PROFILE_BELOW` is past the point where the signal dominates the
    noise, and `hold_profile` sets it to the kept counts: the remaining steps then draw the
    values and the other masks given those (the way inpainting keeps known numbers), rather
    than the counts being forced on the finished state alone. Numbers the learned schedule
    keeps noisy to the end are left free until decoding.
    """
    dims = profile_dims(denoiser.layout)  # once per run, not at every sampler step
    if not dims.any():  # one length and no masks: nothing to hold
        return guided

    def holding(x, sigma, condition):
        denoised = guided(x, sigma, condition)
        cells = profile_cells(denoiser, sigma, HOLD_PROFILE_BELOW, dims)
        return hold_profile(denoiser, denoised, profile, cells) if cells.any() else denoised

    return holding


@torch.no_grad()
def decode_keeping(denoiser, x: torch.Tensor, profile) -> dict:
    """`Denoiser.decode` of final states (B, M) that keeps the drawn `profile`.

    Each stay has its drawn length, each masked value its drawn steps, or exactly its drawn
    number of measurements (at the steps whose state is nearest "measured" rather than
    "missing"), and
    each value's measurements the drawn mean and sd.
    """
    profile = profile.to(x.device)
    codes, inside = profile_codes(denoiser.layout, denoiser.level_scores(x), profile)
    arrays = denoiser.decoded_tensors(x, codes)
    numeric = arrays["numeric"]
    measured = arrays["observed"] & inside[..., None]
    arrays["numeric"] = match_levels(numeric, measured, profile.means.to(numeric),
                                     profile.sds.to(numeric))
    return {name: value.cpu().numpy() for name, value in arrays.items()}

