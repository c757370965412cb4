"""KnownPatients: which numbers of each patient's diffusion state are known, and their values.

Known values are encoded exactly as training data (`CohortTensors.from_cohort` on an
`EncodedCohort`), so that the replacement sampler holds them at the clean state the model was
trained on. What is known is decided per feature of the layout (a value, an observation mask,
a category, the "step is valid" flag) and expanded to the numbers of the state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..diffusion.batches import CohortTensors
from ..diffusion.layout import StateLayout
from ..preprocessing import EncodedCohort


@dataclass(frozen=True)
class KnownPatients:
    """Patients of which part is known, on the fitted grid.

    Parameters
    ----------
    cohort : EncodedCohort
        The patients padded to the fitted length; values where they are known, anything else
        elsewhere. Cells measured but of unknown value are ``observed``.
    values : ndarray of shape (N, T, Kn), bool
        Known temporal numeric values.
    codes : ndarray of shape (N, T, Kc), bool
        Known temporal categorical features in layout order (masks, columns, validity).
    static_values : ndarray of shape (N, Sn), bool
        Known static numeric values.
    static_codes : ndarray of shape (N, Ks), bool
        Known static categorical features in layout order (masks, then columns).
    hidden : ndarray of shape (N, T, Kn), bool
        Cells measured but of unknown value: they are decoded as measured whatever the model
        says of their mask.
    static_hidden : ndarray of shape (N, Sn), bool
        The same for static numeric values.
    """

    cohort: EncodedCohort
    values: np.ndarray
    codes: np.ndarray
    static_values: np.ndarray
    static_codes: np.ndarray
    hidden: np.ndarray
    static_hidden: np.ndarray

    @property
    def n_patients(self) -> int:
        """Number of patients N."""
        return self.cohort.n_patients

    def repeat(self, n_draws: int) -> KnownPatients:
        """The patients `n_draws` times over, draw after draw (patient i of draw d is d N + i)."""
        index = np.tile(np.arange(self.n_patients), n_draws)
        arrays = {name: getattr(self, name)[index] for name in _ARRAYS}
        return KnownPatients(cohort=self.cohort.subset(index), **arrays)

    def feature_mask(self) -> np.ndarray:
        """(N, T * Kt + Ks) bool over the layout's flat features: True where known."""
        temporal = np.concatenate([self.values, self.codes], axis=2).reshape(self.n_patients, -1)
        static = np.concatenate([self.static_values, self.static_codes], axis=1)
        return np.concatenate([temporal, static], axis=1)

    def states(self, denoiser, device="cpu"):
        """``known(start, stop) -> (clean, mask)`` for `generate`: clean states and known numbers.

        Uses only the denoiser's layout and its ``clean_state`` (the state a training batch
        has), so any backbone works.
        """
        dim_to_feature = denoiser.layout.dim_to_feature()
        features = self.feature_mask()

        def known(start, stop):
            batch = CohortTensors.from_cohort(
                self.cohort.subset(slice(start, stop)), denoiser.layout, device=device
            )
            with torch.no_grad():
                clean = denoiser.clean_state(batch).double()
            mask = torch.as_tensor(features[start:stop][:, dim_to_feature], device=device)
            return clean, mask

        return known


_ARRAYS = ("values", "codes", "static_values", "static_codes", "hidden", "static_hidden")


def known_patients(cohort, layout: StateLayout, *, hidden=None, unknown=None,
                   categorical_unknown=None, steps_unknown=None, validity_unknown=None,
                   static_hidden=None, static_unknown=None,
                   static_categorical_unknown=None) -> KnownPatients:
    """What is known of `cohort`: everything, except what the arguments say.

    Parameters
    ----------
    cohort : EncodedCohort
        Encoded patients (`SequencePreprocessor.transform`), padded to ``layout.max_length``.
        Its ``observed`` says what was measured; cells of `hidden` count as measured.
    layout : StateLayout
        The fitted layout.
    hidden : ndarray of shape (N, T, Kn), bool, optional
        Measured cells of unknown value (their mask is known, their value is drawn).
    unknown : ndarray of shape (N, T, Kn), bool, optional
        Cells where even whether they were measured is unknown (mask and value drawn).
    categorical_unknown : ndarray of shape (N, T, Kc), bool, optional
        Temporal categorical cells to draw.
    steps_unknown : ndarray of shape (N, T), bool, optional
        Time steps drawn whole (values, masks and categories; not the validity flag).
    validity_unknown : ndarray of shape (N, T), bool, optional
        Steps where whether the stay goes on is drawn (the default: known, from the lengths).
    static_hidden, static_unknown : ndarray of shape (N, Sn), bool, optional
        As `hidden` and `unknown`, for static numeric values.
    static_categorical_unknown : ndarray of shape (N, Sc), bool, optional
        Static categorical values to draw.

    Returns
    -------
    KnownPatients

    Notes
    -----
    An unmeasured cell holds, in training data, a copy of the stay's previous measurement (or
    of its first, before any): that copy is known wherever its source is a known measurement,
    and drawn where the source is hidden or might be one of the unknown cells.

    On channels whose mask has the level "repeated" (the value equals the stay's previous
    measurement), that level of a hidden cell depends on its unknown value, and so does the
    level of the next measurement: both masks are drawn (a hidden cell stays measured).
    """
    n, steps, n_values = cohort.numeric.shape
    none = np.zeros((n, steps, n_values), dtype=bool)
    hidden = none if hidden is None else np.asarray(hidden, dtype=bool)
    unknown = none if unknown is None else np.asarray(unknown, dtype=bool) & ~hidden
    whole = np.zeros((n, steps), bool) if steps_unknown is None else np.asarray(steps_unknown)
    validity = np.zeros((n, steps), bool) if validity_unknown is None else validity_unknown
    static_none = np.zeros(cohort.static_numeric.shape, dtype=bool)
    static_hidden = static_none if static_hidden is None else np.asarray(static_hidden, bool)
    static_unknown = static_none if static_unknown is None else np.asarray(static_unknown, bool)
    static_unknown = static_unknown & ~static_hidden

    observed = cohort.observed | hidden
    values = observed & ~hidden & ~unknown & ~whole[:, :, None]
    values |= _fill_is_known(observed, values, unknown | whole[:, :, None],
                             cohort.length_mask())
    mask_known = ~unknown & ~whole[:, :, None]
    if layout.repeated_values:
        repeated = np.zeros(n_values, dtype=bool)
        repeated[list(layout.repeated_values)] = True
        uncertain = hidden | (observed & _previous_measurement_hidden(observed, hidden))
        mask_known &= ~(uncertain & repeated)
    parts = [mask_known[:, :, list(layout.masked_values)]]
    categorical = np.zeros(cohort.categorical.shape, bool)
    if categorical_unknown is not None:
        categorical = np.asarray(categorical_unknown, dtype=bool)
    parts.append(~categorical & ~whole[:, :, None])
    if layout.has_validity:
        parts.append(~np.asarray(validity, dtype=bool)[:, :, None])
    codes = np.concatenate(parts, axis=2)

    static_categorical = np.zeros(cohort.static_categorical.shape, bool)
    if static_categorical_unknown is not None:
        static_categorical = np.asarray(static_categorical_unknown, dtype=bool)
    static_observed = cohort.static_observed | static_hidden
    static_values = ~static_hidden & ~static_unknown  # unmeasured: 0, as in training
    static_codes = np.concatenate(
        [~static_unknown[:, list(layout.masked_static_values)], ~static_categorical], axis=1
    )
    cohort = replace(cohort, observed=observed, static_observed=static_observed)
    return KnownPatients(cohort, values, codes, static_values, static_codes, hidden,
                         static_hidden)


def _fill_is_known(observed, known_values, maybe_measured, valid) -> np.ndarray:
    """(N, T, K) bool: unmeasured cells whose training fill value is a known measurement.

    The fill (`sequences.fill_unobserved`) copies the latest measurement before the cell, else
    the next one after it, else is 0; padding is 0. `maybe_measured` are cells that might be
    measurements (their mask is drawn): a fill that could come from one is not known.
    """
    n, steps, channels = observed.shape
    anchor = observed | maybe_measured
    index = np.arange(steps)[None, :, None]
    before = np.maximum.accumulate(np.where(anchor, index, -1), axis=1)
    after = np.where(anchor, index, steps)[:, ::-1]
    after = np.minimum.accumulate(after, axis=1)[:, ::-1]
    source = np.where(before >= 0, before, after)
    found = source < steps
    from_known = np.take_along_axis(known_values, np.minimum(source, steps - 1), axis=1)
    filled = ~anchor & (~found | from_known)
    return np.where(valid[:, :, None], filled, ~maybe_measured)


def _previous_measurement_hidden(observed, hidden) -> np.ndarray:
    """(N, T, K) bool: the stay's latest measurement before each cell is a hidden one."""
    n, steps, channels = observed.shape
    index = np.arange(steps)[None, :, None]
    latest = np.maximum.accumulate(np.where(observed, index, -1), axis=1)
    before = np.concatenate([np.full((n, 1, channels), -1), latest[:, :-1]], axis=1)
    return (before >= 0) & np.take_along_axis(hidden, np.maximum(before, 0), axis=1)
