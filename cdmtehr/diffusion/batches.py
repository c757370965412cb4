"""CohortTensors: an EncodedCohort on a torch device, in the feature order of a StateLayout."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from .layout import StateLayout
from .masks import REPEATED_LEVEL, repeated_measurements


@dataclass
class CohortTensors:
    """Training targets of a cohort as tensors.

    Attributes
    ----------
    values : Tensor (N, T, Kn) float32
        Numeric normal scores (filled where unobserved).
    observed : Tensor (N, T, Kn) bool
        Observation mask of the numeric values.
    codes : Tensor (N, T, Kt_cat) long
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
        """Convert an `EncodedCohort` to tensors ordered as `layout` expects."""
        valid = cohort.length_mask()
        masks = cohort.observed.astype(np.int64)
        if layout.repeated_values:
            repeated = list(layout.repeated_values)
            repeats = repeated_measurements(
                cohort.numeric[:, :, repeated], cohort.observed[:, :, repeated]
            )
            masks[:, :, repeated] = np.where(repeats, REPEATED_LEVEL, masks[:, :, repeated])
        parts = [masks[:, :, list(layout.masked_values)]]
        parts.append(cohort.categorical.astype(np.int64))
        if layout.has_validity:
            parts.append(valid[:, :, None].astype(np.int64))
        codes = np.concatenate(parts, axis=2)
        static_codes = np.concatenate(
            [
                cohort.static_observed[:, list(layout.masked_static_values)].astype(np.int64),
                cohort.static_categorical.astype(np.int64),
            ],
            axis=1,
        )
        arrays = {
            "values": cohort.numeric.astype(np.float32),
            "observed": cohort.observed.astype(bool),
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

    def index(self, indices) -> CohortTensors:
        """Rows at `indices` (a LongTensor)."""
        return CohortTensors(**{f.name: getattr(self, f.name)[indices] for f in fields(self)})

    def batches(self, batch_size: int, generator: torch.Generator):
        """Yield shuffled minibatches covering the cohort once (one epoch)."""
        order = torch.randperm(len(self), generator=generator).to(self.values.device)
        for start in range(0, len(self), batch_size):
            yield self.index(order[start : start + batch_size])
