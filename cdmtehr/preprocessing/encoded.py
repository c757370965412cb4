"""EncodedCohort: the one hand-off type between the data layer and the model (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np


@dataclass(frozen=True)
class EncodedCohort:
    """A cohort of patients as padded numpy arrays.

    Shapes use N patients, T the longest stay (time steps), Kn numeric channels, Kc temporal
    categorical columns, Sn static numeric and Sc static categorical columns.

    Parameters
    ----------
    numeric : ndarray of shape (N, T, Kn), float32
        Numeric values as normal scores (quantile transform). Unobserved cells are filled
        (forward fill within the stay, then backward fill, then 0, the median score), padded
        cells are 0. When times are irregular, the last channel is the gap to the previous row.
    observed : ndarray of shape (N, T, Kn), bool
        True where the numeric value was measured. False in padding.
    categorical : ndarray of shape (N, T, Kc), int64
        Codes into each column's vocabulary (missing is a level of its own). 0 in padding.
    static_numeric : ndarray of shape (N, Sn), float32
        Per-patient numeric values as normal scores, unobserved filled with 0.
    static_observed : ndarray of shape (N, Sn), bool
        True where the static numeric value is known.
    static_categorical : ndarray of shape (N, Sc), int64
        Codes of the per-patient categorical columns.
    condition : ndarray of shape (N,), int64
        Class index of the condition column; all 0 when the cohort has no condition column.
    lengths : ndarray of shape (N,), int64
        Number of valid time steps per patient, 1 <= length <= T.
    categorical_levels : tuple of int
        Vocabulary size of each temporal categorical column (length Kc).
    static_categorical_levels : tuple of int
        Vocabulary size of each static categorical column (length Sc).
    n_classes : int
        Number of condition classes; 0 when there is no condition column.
    """

    numeric: np.ndarray
    observed: np.ndarray
    categorical: np.ndarray
    static_numeric: np.ndarray
    static_observed: np.ndarray
    static_categorical: np.ndarray
    condition: np.ndarray
    lengths: np.ndarray
    categorical_levels: tuple
    static_categorical_levels: tuple
    n_classes: int

    _ARRAY_FIELDS = (
        "numeric",
        "observed",
        "categorical",
        "static_numeric",
        "static_observed",
        "static_categorical",
        "condition",
        "lengths",
    )

    _TEMPORAL_FIELDS = ("numeric", "observed", "categorical")

    def __post_init__(self):
        n_patients = len(self.lengths)
        for name in self._ARRAY_FIELDS:
            array = getattr(self, name)
            if array.shape[0] != n_patients:
                raise ValueError(
                    f"EncodedCohort.{name} has {array.shape[0]} patients, lengths has {n_patients}."
                )
        if self.categorical.shape[2] != len(self.categorical_levels):
            raise ValueError("EncodedCohort.categorical_levels must have one entry per column.")
        if self.static_categorical.shape[1] != len(self.static_categorical_levels):
            raise ValueError(
                "EncodedCohort.static_categorical_levels must have one entry per column."
            )

    @property
    def n_patients(self) -> int:
        """Number of patients N."""
        return len(self.lengths)

    @property
    def max_length(self) -> int:
        """Padded sequence length T."""
        return self.numeric.shape[1]

    def length_mask(self) -> np.ndarray:
        """Boolean array of shape (N, T), True at valid (non-padded) time steps."""
        return np.arange(self.max_length)[None, :] < self.lengths[:, None]

    def subset(self, indices) -> EncodedCohort:
        """Return the patients at `indices` (an integer array or a boolean mask)."""
        return replace(self, **{name: getattr(self, name)[indices] for name in self._ARRAY_FIELDS})

    @classmethod
    def concat(cls, cohorts) -> EncodedCohort:
        """Stack cohorts with the same layout along the patient axis, padded to the longest
        of their padded lengths."""
        cohorts = list(cohorts)
        first = cohorts[0]
        steps = max(c.max_length for c in cohorts)
        arrays = {
            name: np.concatenate(
                [pad_steps(getattr(c, name), steps) if name in cls._TEMPORAL_FIELDS
                 else getattr(c, name) for c in cohorts], axis=0,
            )
            for name in cls._ARRAY_FIELDS
        }
        others = {
            f.name: getattr(first, f.name) for f in fields(cls) if f.name not in arrays
        }
        return cls(**arrays, **others)


def pad_steps(array: np.ndarray, steps: int) -> np.ndarray:
    """`array` of shape (N, T, ...) padded with zeros (False) to `steps` >= T steps."""
    missing = steps - array.shape[1]
    if missing == 0:
        return array
    return np.pad(array, [(0, 0), (0, missing)] + [(0, 0)] * (array.ndim - 2))
