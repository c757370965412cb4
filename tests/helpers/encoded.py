"""A small random encoded cohort and an untrained denoiser of it, for the diffusion units."""

import numpy as np
import torch

from cdmtehr.diffusion.build import build_denoiser, denoiser_config
from cdmtehr.preprocessing.encoded import EncodedCohort


def make_cohort(n=40, length=6, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, length + 1, n)
    lengths[0] = length
    return EncodedCohort(
        numeric=rng.normal(size=(n, length, 3)).astype("float32"),
        observed=rng.random((n, length, 3)) < np.array([0.5, 1.0, 0.2]),
        categorical=rng.integers(0, 3, (n, length, 1)),
        static_numeric=rng.normal(size=(n, 2)).astype("float32"),
        static_observed=np.stack([rng.random(n) < 0.7, np.ones(n, bool)], axis=1),
        static_categorical=np.stack([rng.integers(0, 4, n), np.zeros(n, int)], axis=1),
        condition=rng.integers(0, 2, n),
        lengths=lengths,
        categorical_levels=(3,),
        static_categorical_levels=(4, 1),
        n_classes=2,
    )


def make_denoiser(layout, tensors, seed=0, hidden_size=16):
    """A small untrained denoiser of a cohort (two classes), its weights drawn from `seed`."""
    config = denoiser_config(tensors, layout, n_classes=2, hidden_size=hidden_size, num_layers=1)
    return build_denoiser(layout, config, torch.Generator().manual_seed(seed))
