"""fit_diffusion: from an encoded cohort to a trained denoiser and noise schedule."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..exceptions import DataWarning
from .batches import CohortTensors
from .build import build_denoiser, denoiser_config, public_denoiser_config
from .denoiser import Denoiser
from .layout import StateLayout
from .private import PrivacyBudget, PrivacySpent, train_private
from .schedule import make_schedule
from .training import TrainingConfig, train

# A stay this many times the median length, and at least this many steps, is worth a warning.
LONG_STAY_FACTOR = 10
LONG_STAY_STEPS = 200


def cohort_layout(cohort, embedding_dim: int, public_cohort=None) -> StateLayout:
    """The state layout `fit_diffusion` fits on `cohort`: described by `public_cohort` when
    one is given, whose layout then masks every value (any could be missing in the data)."""
    described = cohort if public_cohort is None else public_cohort
    return StateLayout.from_cohort(described, embedding_dim=embedding_dim,
                                   mask_all=public_cohort is not None)


def warn_long_stays(lengths) -> None:
    """Warn when the longest stay dwarfs the typical one: some generation pads to it.

    Training pads each batch to its own longest stay and splits batches of very different
    lengths, and the two-stage model samples stays grouped by their drawn lengths, so their
    memory follows the rows. The single-stage model's sampling and completion, whose
    lengths are decided as they are drawn, give every patient T steps: one stay of 10,000
    rows among stays of 48 makes each of their patients cost about 200 times more.
    """
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        return
    longest, median = int(lengths.max()), float(np.median(lengths))
    if longest >= LONG_STAY_STEPS and longest >= LONG_STAY_FACTOR * median:
        warnings.warn(
            f"The longest stay has {longest} time steps, {longest / median:.0f} times the "
            f"median stay ({median:g}). Training follows the rows, but the single-stage "
            f"model's sampling and completion (forecast, impute, given) generate every "
            f"patient padded to {longest} steps, about {longest / median:.0f} times the "
            "memory and time the typical stay needs. Split or truncate the long stays before "
            "fit if they are not meant to be generated whole.",
            DataWarning,
            stacklevel=4,
        )


class FittedDiffusion(NamedTuple):
    """What `fit_diffusion` returns."""

    layout: StateLayout
    denoiser: Denoiser  # the EMA weights, in eval mode
    schedule: nn.Module  # in eval mode, without gradients
    history: list  # one dict per epoch (see `train`)
    privacy: PrivacySpent | None = None  # with differential privacy: what it spent


def fit_diffusion(
    cohort,
    training: TrainingConfig,
    *,
    embedding_dim: int,
    hidden_size: int,
    num_layers: int,
    profile: bool = False,
    schedule: str,
    generator: torch.Generator,
    n_validation: int = 0,
    device="cpu",
    checkpoint=None,
    privacy: PrivacyBudget | None = None,
    public_cohort=None,
    layout: StateLayout | None = None,
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
    profile : bool, default=False
        Whether the denoiser reads each patient's profile (`cdmtehr.profiles.stay`).
    schedule : {"factorized", "edm"}
        The noise schedule.
    generator : torch.Generator
        The only source of randomness: the held-out patients, the initial weights, training.
    n_validation : int, default=0
        Patients held out for early stopping (drawn at random).
    device : str or torch.device, default="cpu"
    checkpoint : Checkpoint, optional
        Where training saves its state and resumes from (see `train`); a resumed fit draws
        the held-out patients again from where the checkpointed fit's `generator` started.
    privacy : PrivacyBudget, optional
        Train with DP-SGD (`train_private`; no validation patients, no checkpoint). The
        denoiser's initial statistics then come from `public_cohort`, or from no patient
        (`public_denoiser_config`).
    public_cohort : EncodedCohort, optional
        Patients that may be published: the layout (which values have masks and the
        "repeated" level) comes from them, with a mask on every value so that `cohort` fits.
    layout : StateLayout, optional
        `cohort_layout(cohort, embedding_dim, public_cohort)` when the caller has it already
        (the first stage of a two-stage model is fitted on the same layout).

    Returns
    -------
    FittedDiffusion
    """
    warn_long_stays(cohort.lengths)
    if checkpoint is not None:
        checkpoint.start(generator)
    if layout is None:
        layout = cohort_layout(cohort, embedding_dim, public_cohort)
    tensors = CohortTensors.from_cohort(cohort, layout, device=device)
    validation = None
    if n_validation:
        order = torch.randperm(len(tensors), generator=generator).to(device)
        validation = tensors.index(order[:n_validation])
        tensors = tensors.index(order[n_validation:])
    make_config, statistics_of = denoiser_config, tensors
    if privacy is not None and public_cohort is None:
        make_config = public_denoiser_config
    elif privacy is not None:
        statistics_of = CohortTensors.from_cohort(public_cohort, layout, device=device)
    config = make_config(
        statistics_of, layout, n_classes=cohort.n_classes, hidden_size=hidden_size,
        num_layers=num_layers, profile=profile,
    )
    denoiser = build_denoiser(layout, config, generator).to(device)
    noise_schedule = make_schedule(schedule, layout).to(device)
    if privacy is not None:
        ema, history, spent = train_private(
            denoiser, noise_schedule, tensors, training, privacy, generator=generator
        )
        return FittedDiffusion(
            layout, ema, noise_schedule.eval().requires_grad_(False), history, spent
        )
    ema, history = train(
        denoiser, noise_schedule, tensors, training, generator=generator, validation=validation,
        checkpoint=checkpoint,
    )
    return FittedDiffusion(layout, ema, noise_schedule.eval().requires_grad_(False), history)
