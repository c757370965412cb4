"""fit_diffusion: from an encoded cohort to a trained denoiser and noise schedule."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .batches import CohortTensors
from .build import build_denoiser, denoiser_config
from .denoiser import Denoiser
from .layout import StateLayout
from .schedule import make_schedule
from .training import TrainingConfig, train


class FittedDiffusion(NamedTuple):
    """What `fit_diffusion` returns."""

    layout: StateLayout
    denoiser: Denoiser  # the EMA weights, in eval mode
    schedule: nn.Module  # in eval mode, without gradients
    history: list  # one dict per epoch (see `train`)


def fit_diffusion(
    cohort,
    training: TrainingConfig,
    *,
    embedding_dim: int,
    hidden_size: int,
    num_layers: int,
    schedule: str,
    generator: torch.Generator,
    n_validation: int = 0,
    device="cpu",
) -> FittedDiffusion:
    """Lay out `cohort`, build the denoiser and the noise schedule, and train them.

    Parameters
    ----------
    cohort : EncodedCohort
        The training patients.
    training : TrainingConfig
        Budget and optimisation settings.
    embedding_dim : int
        Embedding dimension of categorical features with more than two levels.
    hidden_size, num_layers : int
        Size of the denoiser's network.
    schedule : {"factorized", "edm"}
        The noise schedule.
    generator : torch.Generator
        The only source of randomness: the held-out patients, the initial weights, training.
    n_validation : int, default=0
        Patients held out for early stopping (drawn at random).
    device : str or torch.device, default="cpu"

    Returns
    -------
    FittedDiffusion
    """
    layout = StateLayout.from_cohort(cohort, embedding_dim=embedding_dim)
    tensors = CohortTensors.from_cohort(cohort, layout, device=device)
    validation = None
    if n_validation:
        order = torch.randperm(len(tensors), generator=generator).to(device)
        validation = tensors.index(order[:n_validation])
        tensors = tensors.index(order[n_validation:])
    config = denoiser_config(
        tensors,
        layout,
        n_classes=cohort.n_classes,
        hidden_size=hidden_size,
        num_layers=num_layers,
    )
    denoiser = build_denoiser(layout, config, generator).to(device)
    noise_schedule = make_schedule(schedule, layout).to(device)
    ema, history = train(
        denoiser, noise_schedule, tensors, training, generator=generator, validation=validation
    )
    return FittedDiffusion(layout, ema, noise_schedule.eval().requires_grad_(False), history)
