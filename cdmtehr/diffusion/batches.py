"""CohortTensors: an EncodedCohort on a torch device, in the feature order of a StateLayout.

Batches are padded to their own longest stay, and a batch whose stays differ widely in
length is split into groups of similar length (`length_groups`), so that the memory of a
step follows the batch's rows, not patients x the cohort's longest stay.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from .layout import StateLayout
from .masks import REPEATED_LEVEL, repeated_measurements

# A batch padded to its longest stay may hold up to this many times its rows; past that it is
# split into groups of similar length, each padded to its own longest stay.
PADDING_LIMIT = 2.0
_TEMPORAL = ("values", "observed", "codes", "valid")


def length_groups(lengths) -> list:
    """Positions of patients of stay `lengths` in groups that pad to few more cells than rows.

    All patients in their order as one group when padding them to the longest stay costs at
    most `PADDING_LIMIT` times their rows (equal lengths: always). Otherwise the patients,
    sorted by length, are cut into consecutive groups whose padded cells (patients x the
    group's longest stay) stay within `PADDING_LIMIT` times the rows of all: one stay of
    6,000 steps among fifty of 8 is then a group of its own.

    Parameters
    ----------
    lengths : LongTensor of shape (B,)

    Returns
    -------
    list of LongTensor
        Positions into `lengths`, together each position once.
    """
    lengths = torch.as_tensor(lengths).cpu()
    if not len(lengths):
        return [torch.arange(0)]
    budget = PADDING_LIMIT * float(lengths.sum())
    if len(lengths) * float(lengths.max()) <= budget:
        return [torch.arange(len(lengths))]
    order = torch.argsort(lengths, stable=True)
    sorted_lengths = lengths[order].tolist()
    groups, start = [], 0
    for end, length in enumerate(sorted_lengths):
        if end > start and (end - start + 1) * length > budget:
            groups.append(order[start:end])
            start = end
    return [*groups, order[start:]]


def code_dtype(levels: int):
    """The smallest integer dtype of torch and numpy alike that holds codes 0 .. levels - 1."""
    for dtype in (np.uint8, np.int16, np.int32):
        if levels - 1 <= np.iinfo(dtype).max:
            return dtype
    return np.int64


@dataclass
class CohortTensors:
    """Training targets of a cohort as tensors.

    Attributes
    ----------
    values : Tensor (N, T, Kn) float32
        Numeric normal scores (filled where unobserved). T is the longest stay of these
        patients: a batch is padded to its own.
    observed : Tensor (N, T, Kn) bool
        Observation mask of the numeric values.
    codes : Tensor (N, T, Kt_cat) of an integer type (`code_dtype`: uint8 below 256 levels)
        Temporal categorical features in layout order: masks, columns, validity flag.
    valid : Tensor (N, T) bool
        True at time steps inside the stay.
    static_values : Tensor (N, Sn) float32
    static_observed : Tensor (N, Sn) bool
    static_codes : Tensor (N, Ks_cat) long
        Static masks, then static categorical columns.
    condition : Tensor (N,) long
    """

    values: torch.Tensor
    observed: torch.Tensor
    codes: torch.Tensor
    valid: torch.Tensor
    static_values: torch.Tensor
    static_observed: torch.Tensor
    static_codes: torch.Tensor
    condition: torch.Tensor

    @classmethod
    def from_cohort(cls, cohort, layout: StateLayout, device="cpu") -> CohortTensors:
        """Convert an `EncodedCohort` to tensors ordered as `layout` expects.

        The temporal codes are built in place in the smallest integer type that holds their
        levels (`code_dtype`), and float32 values are shared with the cohort, not copied:
        on a large cohort these tensors are most of what training holds.
        """
        valid = cohort.length_mask()
        masked = list(layout.masked_values)
        n_categorical = cohort.categorical.shape[2]
        width = len(masked) + n_categorical + int(layout.has_validity)
        levels = max([*layout.temporal.categorical_levels, 2,
                      int(cohort.categorical.max(initial=0)) + 1])
        codes = np.empty(valid.shape + (width,), dtype=code_dtype(levels))
        codes[:, :, : len(masked)] = cohort.observed[:, :, masked]
        if layout.repeated_values:
            repeated = list(layout.repeated_values)
            repeats = repeated_measurements(
                cohort.numeric[:, :, repeated], cohort.observed[:, :, repeated]
            )
            for k, value in enumerate(repeated):
                codes[:, :, masked.index(value)][repeats[:, :, k]] = REPEATED_LEVEL
        codes[:, :, len(masked) : len(masked) + n_categorical] = cohort.categorical
        if layout.has_validity:
            codes[:, :, -1] = valid
        static_codes = np.concatenate(
            [
                cohort.static_observed[:, list(layout.masked_static_values)].astype(np.int64),
                cohort.static_categorical.astype(np.int64),
            ],
            axis=1,
        )
        arrays = {
            "values": np.asarray(cohort.numeric, dtype=np.float32),
            "observed": np.asarray(cohort.observed, dtype=bool),
            "codes": codes,
            "valid": valid,
            "static_values": cohort.static_numeric.astype(np.float32),
            "static_observed": cohort.static_observed.astype(bool),
            "static_codes": static_codes,
            "condition": cohort.condition.astype(np.int64),
        }
        return cls(**{k: torch.as_tensor(v, device=device) for k, v in arrays.items()})

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def lengths(self) -> torch.Tensor:
        """Steps in each patient's stay, LongTensor (N,)."""
        return self.valid.sum(dim=1)

    def index(self, indices, trim: bool = True) -> CohortTensors:
        """Patients at `indices` (a LongTensor), padded to their own longest stay, or with
        `trim` False to these tensors' T."""
        steps = self.valid.shape[1]
        if trim and len(indices):
            steps = int(self.valid[indices].sum(dim=1).max())
        return CohortTensors(**{
            f.name: getattr(self, f.name)[indices, :steps] if f.name in _TEMPORAL
            else getattr(self, f.name)[indices]
            for f in fields(self)
        })

    def length_groups(self) -> list:
        """The patients in groups of similar length (`length_groups`), each padded to its
        own longest stay; the whole batch, as it is, when its lengths are alike."""
        groups = length_groups(self.lengths)
        if len(groups) == 1:
            return [self]
        return [self.index(group.to(self.values.device)) for group in groups]

    def batches(self, batch_size: int, generator: torch.Generator):
        """Yield shuffled minibatches covering the cohort once (one epoch), each padded to
        its own longest stay."""
        order = torch.randperm(len(self), generator=generator).to(self.values.device)
        for start in range(0, len(self), batch_size):
            yield self.index(order[start : start + batch_size])
