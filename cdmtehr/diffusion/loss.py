"""diffusion_loss: unreduced, named loss terms of one training batch."""

from __future__ import annotations

import torch

from ..profiles.conditioning import PROFILE_DROPOUT, training_inputs


def low_discrepancy_uniform(n: int, generator: torch.Generator, device="cpu") -> torch.Tensor:
    """Stratified diffusion times u_i = (u_0 + i / n) mod 1 (Kingma et al. 2021, VDM App. I)."""
    offset = torch.rand((), generator=generator).to(device)
    return (offset + torch.arange(n, device=device) / n) % 1.0


# A share of each batch trains at the lowest diffusion times: the learned warp, fitted to where
# the loss changes, puts most of u at noise levels far above a value's movement from one hour
# to the next (at u = 1/8, sigma is above 2 for more than a third of the values; heart rate's
# is below its typical hourly change only for u under about 0.06), so uniform times spend
# little training where that movement is denoised and where the sampler's last step starts.
LOW_NOISE_SHARE = 0.5
LOW_NOISE_SPAN = 0.2


def training_times(n: int, generator: torch.Generator, device="cpu") -> torch.Tensor:
    """Diffusion times of a batch of `n` patients: `low_discrepancy_uniform`, of which a random
    `LOW_NOISE_SHARE` of the patients are moved into [0, `LOW_NOISE_SPAN`) by scaling, so that
    they spread evenly over it."""
    u = low_discrepancy_uniform(n, generator, device)
    low = torch.rand(n, generator=generator).to(device) < LOW_NOISE_SHARE
    return torch.where(low, u * LOW_NOISE_SPAN, u)


def _weight(sigma: torch.Tensor, numeric_weighting: str) -> torch.Tensor:
    """EDM's lambda(sigma) with sigma_data = 1, or 1."""
    if numeric_weighting == "edm":
        return (sigma**2 + 1) / sigma**2
    return torch.ones_like(sigma)


def diffusion_loss(
    denoiser,
    schedule,
    batch,
    generator: torch.Generator,
    *,
    guidance_dropout: float = 0.1,
    fill_weight: float = 0.1,
    numeric_weighting: str = "uniform",
) -> dict:
    """Loss of one batch for the continuous-time mixed-type diffusion.

    Each patient gets one diffusion time u (`training_times`: stratified, half of them moved
    into the lowest fifth); each feature its own sigma(u) from the schedule. Numeric features:
    squared error of the denoised value, weight 1 where observed and `fill_weight` where filled
    (docs/method.md, section 1: untrained outputs at filled cells would drift during
    sampling). Categorical features (columns, observation masks, validity): cross-entropy
    divided by the entropy of the feature's marginal, so every feature's loss is about 1 at
    maximal noise (CDTD Sec. 3.2). Each feature is averaged over its valid cells and
    the features are averaged, so no family dominates by count.

    Parameters
    ----------
    denoiser : Denoiser
    schedule : FactorizedSchedule or EDMSchedule
    batch : CohortTensors
    generator : torch.Generator
        Source of u, noise and guidance dropout.
    guidance_dropout : float, default=0.1
        Probability of replacing the condition by the null token (Ho & Salimans 2022).
    fill_weight : float, default=0.1
        Weight of unobserved (filled) numeric cells.
    numeric_weighting : {"uniform", "edm"}, default="uniform"
        "uniform" is CDTD's plain squared error (the learned schedule then decides where
        training effort goes); "edm" weights numeric errors by lambda(sigma) =
        (sigma^2 + 1) / sigma^2 (Karras et al. 2022, Eq. 8: a unit-variance target for the
        network at every noise level). The schedule is always fitted to the plain squared
        error, which rises monotonically from 0 to 1 with sigma as its CDF model needs.

    Returns
    -------
    dict of Tensor
        "diffusion" and "schedule" scalars, "total" (their sum), and "per_feature" (K,),
        the loss of each temporal then static feature (detached).
    """
    n_patients = len(batch)
    device = batch.values.device
    size = denoiser.layout.cut(batch.valid.shape[1]).size  # padded to the batch's longest stay
    u = training_times(n_patients, generator, device)
    noise = torch.randn((n_patients, size), generator=generator).to(device)
    drop = torch.rand(n_patients, generator=generator).to(device) < guidance_dropout
    profile_drop = None
    if denoiser.config.profile:
        profile_drop = torch.rand(n_patients, generator=generator).to(device) < PROFILE_DROPOUT
    return loss_terms(
        denoiser, schedule, batch, u, noise, drop, fill_weight=fill_weight,
        numeric_weighting=numeric_weighting, profile_drop=profile_drop,
    )


def loss_terms(denoiser, schedule, batch, u, noise, drop, *, fill_weight=0.1,
               numeric_weighting="uniform", profile_drop=None) -> dict:
    """The terms of `diffusion_loss` for given draws: times u (B,), noise (B, M), drop (B,).

    `profile_drop` (B,) bool hides the profile of those patients from a denoiser that reads
    profiles (None: every profile is shown).

    Every mean runs over the patients of `batch` together, so the loss of a batch of one
    patient depends on that patient alone (what per-patient gradients need, see
    `cdmtehr.diffusion.private`).
    """
    layout = denoiser.layout
    steps = batch.valid.shape[1]  # the batch is padded to its own longest stay
    sigma_features = schedule.sigma(u, steps).detach().float()  # (B, n_features)
    sigma = denoiser.expand_sigma(sigma_features)
    x0 = denoiser.clean_state(batch)
    x = x0 + sigma * noise

    condition = batch.condition
    if denoiser.n_classes == 0:
        drop = torch.ones_like(drop)
    condition = torch.where(drop, torch.full_like(condition, denoiser.n_classes), condition)

    profile = training_inputs(batch, layout, profile_drop) if denoiser.config.profile else None
    out = denoiser.predict(x, sigma, condition, profile)

    # Temporal cells: (B, T, Kt) losses and weights in layout feature order.
    layout_cut = steps * layout.temporal.n_features
    temporal_sigma = sigma_features[:, :layout_cut].unflatten(
        1, (steps, layout.temporal.n_features)
    )[..., : layout.n_values]
    static_sigma = sigma_features[:, layout_cut : layout_cut + layout.static.n_numeric]

    valid = batch.valid.float()
    value_loss = (out.temporal_values - batch.values) ** 2
    value_weight = torch.where(batch.observed, 1.0, fill_weight) * valid[..., None]
    ce = denoiser.temporal_embedding.cross_entropy(out.temporal_logits, batch.codes)
    ce = ce / denoiser.temporal_entropy
    ce_weight = valid[..., None].expand_as(ce).clone()
    if layout.has_validity:
        ce_weight[..., -1] = 1.0  # the validity flag is scored past the end of the stay too
    temporal_loss = torch.cat([value_loss, ce], dim=-1)
    temporal_train = torch.cat([value_loss * _weight(temporal_sigma, numeric_weighting), ce], -1)
    temporal_weight = torch.cat([value_weight, ce_weight], dim=-1)

    # Static cells: (B, Ks).
    static_value_loss = (out.static_values - batch.static_values) ** 2
    static_value_weight = torch.where(batch.static_observed, 1.0, fill_weight)
    static_ce = denoiser.static_embedding.cross_entropy(out.static_logits, batch.static_codes)
    static_ce = static_ce / denoiser.static_entropy
    static_loss = torch.cat([static_value_loss, static_ce], dim=-1)
    static_train = torch.cat(
        [static_value_loss * _weight(static_sigma, numeric_weighting), static_ce], dim=-1
    )
    static_weight = torch.cat([static_value_weight, torch.ones_like(static_ce)], dim=-1)

    per_feature = torch.cat(
        [
            (temporal_train * temporal_weight).sum((0, 1))
            / temporal_weight.sum((0, 1)).clamp_min(1e-8),
            (static_train * static_weight).sum(0) / static_weight.sum(0).clamp_min(1e-8),
        ]
    )
    # A state with no feature at all (only ids and times of equal-length stays) has nothing to
    # learn: its loss is a constant 0, cut from the network (the backward pass of an empty sum
    # through the network's zero-width heads is NaN).
    diffusion = per_feature.mean() if per_feature.numel() else sigma.new_zeros(())

    cell_loss = torch.cat([temporal_loss.flatten(1), static_loss], dim=1)
    cell_weight = torch.cat([(temporal_weight > 0).flatten(1), static_weight > 0], dim=1).float()
    schedule_loss = schedule.loss(sigma_features, cell_loss, cell_weight)
    return {
        "diffusion": diffusion,
        "schedule": schedule_loss,
        "total": diffusion + schedule_loss,
        "per_feature": per_feature.detach(),
    }
