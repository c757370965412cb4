"""The first stage: each patient's profile, drawn before the stay is generated given it.

`fit_profile_model` learns, from the training patients, the joint distribution of (condition
class, stay length, measured steps of each value, mean and sd of each value's measurements)
with `ProfileTrees`; `draw_profiles` draws profiles for given classes. The whole schedule of
care of a patient (which values are charted at all, how often, around which level) is a
per-patient decision that a denoiser working hour by hour learns slowly; drawn here, it is
right by construction (docs/method.md, section 8).
"""

from __future__ import annotations

import numpy as np
import torch

from ..diffusion.profile import StayProfile, level_statistics
from .trees import LeafTree, ProfileTrees

__all__ = ["LeafTree", "ProfileTrees", "draw_profiles", "fit_profile_model", "profile_table"]


def profile_table(cohort, layout) -> tuple:
    """The profile of every patient of an `EncodedCohort` as one row, and the gates.

    Columns: class, length, measured steps of each masked value, mean of each value, sd of
    each value. A mean exists only where its value is measured, an sd only where it is
    measured twice or more (NaN otherwise; the gates say so to `ProfileTrees`).
    """
    valid = cohort.length_mask()
    measured = cohort.observed & valid[:, :, None]
    masked = list(layout.masked_values)
    counts = measured[:, :, masked].sum(axis=1)
    means, sds = level_statistics(torch.as_tensor(cohort.numeric, dtype=torch.float64),
                                  torch.as_tensor(measured))
    n = measured.sum(axis=1)
    means = np.where(n > 0, means.numpy(), np.nan)
    sds = np.where(n > 1, sds.numpy(), np.nan)
    n_masks, n_values = len(masked), layout.n_values
    gates = {}
    for position, value in enumerate(masked):
        gates[2 + n_masks + value] = (2 + position, 0)
        gates[2 + n_masks + n_values + value] = (2 + position, 1)
    for value in range(n_values):  # always measured: an sd needs two steps of stay
        if value not in masked:
            gates[2 + n_masks + n_values + value] = (1, 1)
    table = np.column_stack([cohort.condition, cohort.lengths, counts, means, sds])
    return table, gates


def fit_profile_model(cohort, layout, random_state: int = 0) -> ProfileTrees:
    """`ProfileTrees` fitted on the profiles of a training cohort (class first)."""
    table, gates = profile_table(cohort, layout)
    return ProfileTrees().fit(table, gates, random_state=random_state)


def draw_profiles(model: ProfileTrees, classes, layout, generator: torch.Generator):
    """`StayProfile` of patients of the given classes (n,), seeded from `generator`."""
    seed = int(torch.randint(2**31 - 1, (), generator=generator))
    rows = model.sample(len(classes), np.random.default_rng(seed), first=np.asarray(classes))
    n_masks, n_values = len(layout.masked_values), layout.n_values
    counts = rows[:, 2 : 2 + n_masks]
    means = np.nan_to_num(rows[:, 2 + n_masks : 2 + n_masks + n_values])
    sds = np.nan_to_num(rows[:, 2 + n_masks + n_values :])
    return StayProfile(
        counts=torch.as_tensor(counts.astype(np.int64)),
        lengths=torch.as_tensor(rows[:, 1].astype(np.int64)),
        means=torch.as_tensor(means, dtype=torch.float32),
        sds=torch.as_tensor(sds, dtype=torch.float32),
    )
