"""The first stage: each patient's profile, drawn before the stay is generated given it.

`fit_profile_model` learns, from the training patients of each condition class, the joint
distribution of (stay length, measured steps of each value, mean and sd of each value's
measurements) with `ProfileTrees`, and the steps at which values are charted with a
`ChartingModel`; `draw_profiles` draws profiles for given classes, then their charts. The whole
schedule of care of a patient (which values are charted at all, how often, around which level,
in which rounds and panels) is a per-patient decision that a denoiser working on the whole stay
at once learns slowly; drawn here, the stay's values are then drawn given it (docs/method.md,
section 8).

The package holds the whole first stage: what a profile is and what the denoiser reads of it
(`cdmtehr.profiles.stay`), the trees (`cdmtehr.profiles.trees`), the charting model
(`cdmtehr.profiles.charting`), and how a profile conditions the second stage in training,
sampling and decoding (`cdmtehr.profiles.conditioning`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._blocks import patient_blocks
from ..disclosure import MIN_PATIENTS
from .charting import ChartingModel, draw_charts, fit_charting_model
from .stay import StayProfile, level_statistics
from .trees import LeafTree, ProfileTrees

__all__ = ["ChartingModel", "ClassProfiles", "LeafTree", "ProfileTrees", "StayProfile",
           "draw_profiles", "fit_profile_model", "profile_table"]


@dataclass
class ClassProfiles:
    """The first stage: one `ProfileTrees` per condition class (one in all without a condition).

    Trees per class rather than the class as a first column: a tree splits on the class only
    where that pays most in one split, and the profiles of the minority class (deaths: 14 % of
    set a) would then come out too much like everyone else's.

    Attributes
    ----------
    classes : ndarray of int
        The class of each model.
    models : list of ProfileTrees
        Fitted on the profiles of that class's patients (columns of `profile_table`); a class
        too small for a leaf of its own shares the model of all classes.
    charting : ChartingModel or None
        Draws the steps at which each masked value is measured (and each category that can be
        missing recorded) given the drawn profile and class (`cdmtehr.profiles.charting`);
        None: the denoiser places the drawn counts.
    """

    classes: np.ndarray
    models: list
    charting: ChartingModel | None = None


def _profile_block(cohort, block: slice, masked: list) -> tuple:
    """Measured steps of the masked values, and mean and sd of each value (NaN where a
    value has too few measurements), of the patients of `block`."""
    valid = np.arange(cohort.numeric.shape[1])[None, :] < cohort.lengths[block, None]
    measured = cohort.observed[block] & valid[:, :, None]
    means, sds = level_statistics(torch.as_tensor(cohort.numeric[block], dtype=torch.float64),
                                  torch.as_tensor(measured))
    n = measured.sum(axis=1)
    return (measured[:, :, masked].sum(axis=1), np.where(n > 0, means.numpy(), np.nan),
            np.where(n > 1, sds.numpy(), np.nan))


def profile_table(cohort, layout) -> tuple:
    """The profile of every patient of an `EncodedCohort` as one row, and the gates.

    Columns: length, measured steps of each masked value, mean of each value, sd of each
    value. A mean exists only where its value is measured, an sd only where it is measured
    twice or more (NaN otherwise; the gates say so to `ProfileTrees`).
    """
    masked = list(layout.masked_values)
    # a block at a time: the float64 statistics are several copies of the values
    blocks = [_profile_block(cohort, block, masked) for block in patient_blocks(cohort.numeric)]
    counts, means, sds = (np.concatenate(parts) for parts in zip(*blocks, strict=True))
    n_masks, n_values = len(masked), layout.n_values
    gates = {}
    for position, value in enumerate(masked):
        gates[1 + n_masks + value] = (1 + position, 0)
        gates[1 + n_masks + n_values + value] = (1 + position, 1)
    for value in range(n_values):  # always measured: an sd needs two steps of stay
        if value not in masked:
            gates[1 + n_masks + n_values + value] = (0, 1)
    return np.column_stack([cohort.lengths, counts, means, sds]), gates


def fit_profile_model(cohort, layout, *, categorical_missing, random_state: int = 0,
                      min_patients: int = MIN_PATIENTS, charting_seconds=None,
                      verbose: bool = False) -> ClassProfiles:
    """`ClassProfiles` fitted on the profiles and the records of a training cohort.

    A class with fewer patients than a leaf needs is drawn from the trees of all classes
    together, and so is a column that too few patients of a class have (`ProfileTrees.fit`).
    The charting model (`fit_charting_model`; `categorical_missing` flags the temporal
    categorical columns that can be missing) trains for at most `charting_seconds` (None:
    until held-out patients stop improving), logging its epochs with `verbose`.
    """
    table, gates = profile_table(cohort, layout)
    classes = np.unique(cohort.condition)
    pooled = ProfileTrees(min_patients=min_patients).fit(table, gates, random_state=random_state)
    models = []
    for klass in classes:
        rows = table[cohort.condition == klass]
        if len(classes) == 1 or len(rows) < max(pooled.min_leaf, min_patients):
            models.append(pooled)
        else:
            models.append(ProfileTrees(min_patients=min_patients).fit(
                rows, gates, random_state=random_state, fallback=pooled))
    generator = torch.Generator().manual_seed(random_state)
    charting = fit_charting_model(cohort, layout, categorical_missing, generator=generator,
                                  seconds=charting_seconds, verbose=verbose)
    return ClassProfiles(classes=classes.astype(np.int64), models=models, charting=charting)


def _draw_rows(model: ClassProfiles, classes: np.ndarray, rng, given=None) -> np.ndarray:
    """Profile rows (`profile_table` columns) of patients of `classes`, from their class's
    trees; `given` fixes their first columns (`ProfileTrees.sample`)."""
    rows = np.empty((len(classes), len(model.models[0].trees_) + 1))
    for klass, trees in zip(model.classes, model.models):
        members = np.flatnonzero(classes == klass)
        if len(members):
            rows[members] = trees.sample(len(members), rng,
                                         None if given is None else given[members])
    return rows


def draw_profiles(model: ClassProfiles, classes, layout, generator: torch.Generator):
    """`StayProfile` of patients of the given classes (n,), seeded from `generator`.

    With a charting model, the steps of each stay are drawn given its drawn length and counts
    (`draw_charts`), and the means and sds are drawn again given the counts the charts have,
    so that every value measured has a level and one measured twice a spread.
    """
    seed = int(torch.randint(2**31 - 1, (), generator=generator))
    rng = np.random.default_rng(seed)
    classes = np.asarray(classes)
    rows = _draw_rows(model, classes, rng)
    n_masks, n_values = len(layout.masked_values), layout.n_values
    counts = torch.as_tensor(rows[:, 1 : 1 + n_masks].astype(np.int64))
    lengths = torch.as_tensor(rows[:, 0].astype(np.int64))
    charts = charted = None
    if model.charting is not None:
        charts = draw_charts(model.charting, counts, lengths, torch.as_tensor(classes),
                             layout.max_length, generator)
        counts = charts[..., :n_masks].sum(dim=1)
        charted = torch.as_tensor(model.charting.features, dtype=torch.long)
        given = np.column_stack([rows[:, 0], counts.numpy()])
        rows = _draw_rows(model, classes, rng, given)
    means = np.nan_to_num(rows[:, 1 + n_masks : 1 + n_masks + n_values])
    sds = np.nan_to_num(rows[:, 1 + n_masks + n_values :])
    return StayProfile(counts=counts, lengths=lengths,
                       means=torch.as_tensor(means, dtype=torch.float32),
                       sds=torch.as_tensor(sds, dtype=torch.float32), charts=charts,
                       charted=charted)
