"""StateLayout: where each feature of a patient lives in the flat diffusion state.

One patient is one flat vector of M = T * Dt + Ds numbers: a temporal block of T rows of Dt
numbers (numeric values, then category embeddings) followed by a static block of Ds numbers.
Samplers see only this flat vector, so they stay ignorant of features, time and types.

A *feature* is one unit with its own noise level sigma: a numeric value (one number) or a
categorical column embedded in d numbers. Observation masks and the "step is valid" flag are
binary categorical features like any other (TimeDiff models missingness as categorical
channels; we diffuse them through embeddings as CDTD does).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .masks import REPEAT_MIN_SHARE, repeat_shares


@dataclass(frozen=True)
class FeatureGroup:
    """Categorical features of one embedding dimension, stored side by side in the state.

    Parameters
    ----------
    levels : tuple of int
        Vocabulary size of each feature in the group.
    dim : int
        Embedding dimension d shared by the group.
    offset : int
        Index of the group's first number in its block (temporal row or static block).
    feature_index : tuple of int
        Index of each feature among the block's features (for sigma lookup).
    """

    levels: tuple
    dim: int
    offset: int
    feature_index: tuple

    @property
    def n_features(self) -> int:
        """Number of features in the group."""
        return len(self.levels)

    @property
    def width(self) -> int:
        """Numbers taken in the state by the whole group."""
        return self.n_features * self.dim

    @property
    def max_levels(self) -> int:
        """Largest vocabulary in the group (logits are padded to it)."""
        return max(self.levels)


def _embedding_dim(levels: int, embedding_dim: int) -> int:
    # Binary (and constant) features get d = 2: a 1-d normalised embedding can only be +-1,
    # and two levels need no more (docs/method.md, section 2).
    return 2 if levels <= 2 else embedding_dim


@dataclass(frozen=True)
class BlockLayout:
    """Layout of one block (temporal row or static vector): numerics then categorical groups.

    Parameters
    ----------
    n_numeric : int
        Numeric features, stored first, one number each.
    categorical_levels : tuple of int
        Vocabulary size of each categorical feature, in feature order after the numerics.
    embedding_dim : int
        Embedding dimension for features with more than two levels.
    """

    n_numeric: int
    categorical_levels: tuple
    embedding_dim: int
    groups: tuple = field(init=False)
    width: int = field(init=False)

    def __post_init__(self):
        dims = [_embedding_dim(v, self.embedding_dim) for v in self.categorical_levels]
        groups, offset = [], self.n_numeric
        for dim in sorted(set(dims)):
            members = [j for j, d in enumerate(dims) if d == dim]
            group = FeatureGroup(
                levels=tuple(self.categorical_levels[j] for j in members),
                dim=dim,
                offset=offset,
                feature_index=tuple(self.n_numeric + j for j in members),
            )
            groups.append(group)
            offset += group.width
        object.__setattr__(self, "groups", tuple(groups))
        object.__setattr__(self, "width", offset)

    @property
    def n_categorical(self) -> int:
        """Number of categorical features."""
        return len(self.categorical_levels)

    @property
    def n_features(self) -> int:
        """Numeric plus categorical features: the number of noise levels per block."""
        return self.n_numeric + self.n_categorical

    def is_categorical(self) -> np.ndarray:
        """Boolean array over features, True for categorical ones."""
        return np.arange(self.n_features) >= self.n_numeric

    def dim_to_feature(self) -> np.ndarray:
        """Feature index of every number in the block, shape (width,)."""
        index = np.empty(self.width, dtype=np.int64)
        index[: self.n_numeric] = np.arange(self.n_numeric)
        for group in self.groups:
            index[group.offset : group.offset + group.width] = np.repeat(
                np.asarray(group.feature_index), group.dim
            )
        return index


@dataclass(frozen=True)
class StateLayout:
    """Layout of the whole flat state of one patient.

    Temporal features, in order: ``n_values`` numeric values, then the categorical features
    ``mask_features`` (observation masks of the numeric channels that are sometimes missing),
    the temporal categorical columns, and the validity flag when lengths vary.
    Static features: static numeric values, then their masks and the static categorical
    columns.

    Parameters
    ----------
    max_length : int
        T, the padded number of time steps.
    temporal : BlockLayout
        Layout of one time step.
    static : BlockLayout
        Layout of the per-patient block.
    n_values : int
        Temporal numeric channels (the first ``n_values`` temporal features).
    masked_values : tuple of int
        Numeric channels that carry an observation-mask feature, in mask-feature order.
    n_temporal_categorical : int
        Temporal categorical columns (after the masks).
    has_validity : bool
        Whether the last temporal categorical feature is the "step is valid" flag.
    n_static_values : int
        Static numeric columns.
    masked_static_values : tuple of int
        Static numeric columns that carry a mask feature.
    n_static_categorical : int
        Static categorical columns.
    repeated_values : tuple of int
        Masked numeric channels whose mask feature has a third level, "measured, and equal to
        the stay's previous measurement" (`masks.repeated_measurements`); a value generated at
        that level is decoded as an exact copy of the one before, as charted values are.
    """

    max_length: int
    temporal: BlockLayout
    static: BlockLayout
    n_values: int
    masked_values: tuple
    n_temporal_categorical: int
    has_validity: bool
    n_static_values: int
    masked_static_values: tuple
    n_static_categorical: int
    repeated_values: tuple

    @classmethod
    def from_cohort(cls, cohort, embedding_dim: int = 4, mask_all: bool = False) -> StateLayout:
        """Build the layout of an `EncodedCohort` (masks only where values are ever missing).

        Every masked channel where at least `REPEAT_MIN_SHARE` of the measurements after a
        stay's first repeat the one before gets the mask level "repeated". `mask_all` gives
        every value a mask and the state a validity flag, so that the layout of one cohort
        (public data) holds other patients too.
        """
        valid = cohort.length_mask()
        ever_missing = (~cohort.observed & valid[:, :, None]).any(axis=(0, 1)) | mask_all
        masked_values = tuple(int(k) for k in np.flatnonzero(ever_missing))
        has_validity = mask_all or bool((cohort.lengths < cohort.max_length).any())
        share = repeat_shares(cohort.numeric, cohort.observed & valid[:, :, None])
        repeated = tuple(k for k in masked_values if share[k] >= REPEAT_MIN_SHARE)
        temporal_levels = (
            _mask_levels(masked_values, repeated)
            + tuple(int(v) for v in cohort.categorical_levels)
            + ((2,) if has_validity else ())
        )
        static_missing = (~cohort.static_observed).any(axis=0) | mask_all
        masked_static = tuple(int(k) for k in np.flatnonzero(static_missing))
        static_levels = (2,) * len(masked_static) + tuple(
            int(v) for v in cohort.static_categorical_levels
        )
        return cls(
            max_length=int(cohort.max_length),
            temporal=BlockLayout(cohort.numeric.shape[2], temporal_levels, embedding_dim),
            static=BlockLayout(cohort.static_numeric.shape[1], static_levels, embedding_dim),
            n_values=int(cohort.numeric.shape[2]),
            masked_values=masked_values,
            n_temporal_categorical=len(cohort.categorical_levels),
            has_validity=has_validity,
            n_static_values=int(cohort.static_numeric.shape[1]),
            masked_static_values=masked_static,
            n_static_categorical=len(cohort.static_categorical_levels),
            repeated_values=repeated,
        )

    def cut(self, length: int) -> StateLayout:
        """The layout of the same stays padded to `length` steps instead of `max_length`.

        A batch is padded only to its own longest stay: its states are the first `length`
        rows of the temporal block followed by the whole static block.
        """
        return self if length == self.max_length else replace(self, max_length=int(length))

    def cut_features(self, length: int) -> np.ndarray:
        """Index into this layout's flat feature vector of each feature of `cut(length)`."""
        n_temporal = self.temporal.n_features
        static = self.max_length * n_temporal + np.arange(self.static.n_features)
        return np.concatenate([np.arange(length * n_temporal), static])

    def length_of(self, n_numbers: int, per_feature: bool = False) -> int:
        """The steps of a flat state of `n_numbers` numbers (`per_feature`: a row of noise
        levels of `n_numbers` features); `max_length` when a step holds nothing."""
        block = self.temporal.n_features if per_feature else self.temporal.width
        fixed = self.static.n_features if per_feature else self.static.width
        return (n_numbers - fixed) // block if block else self.max_length

    @property
    def size(self) -> int:
        """M, the numbers per patient in the flat state."""
        return self.max_length * self.temporal.width + self.static.width

    @property
    def n_features(self) -> int:
        """Number of noise levels per patient: T * Kt + Ks."""
        return self.max_length * self.temporal.n_features + self.static.n_features

    def dim_to_feature(self) -> np.ndarray:
        """Index into the flat feature vector (T * Kt + Ks) of every state number, shape (M,)."""
        temporal = self.temporal.dim_to_feature()
        rows = (
            np.arange(self.max_length)[:, None] * self.temporal.n_features + temporal[None, :]
        ).reshape(-1)
        static = self.max_length * self.temporal.n_features + self.static.dim_to_feature()
        return np.concatenate([rows, static])

    def feature_is_categorical(self) -> np.ndarray:
        """Boolean over the flat feature vector (T * Kt + Ks): True for categorical features."""
        return np.concatenate(
            [np.tile(self.temporal.is_categorical(), self.max_length), self.static.is_categorical()]
        )

    def to_dict(self) -> dict:
        """JSON-serialisable description (for model files)."""
        return {
            "max_length": self.max_length,
            "n_values": self.n_values,
            "masked_values": list(self.masked_values),
            "temporal_categorical_levels": list(
                self.temporal.categorical_levels[
                    len(self.masked_values) : len(self.masked_values)
                    + self.n_temporal_categorical
                ]
            ),
            "has_validity": self.has_validity,
            "n_static_values": self.n_static_values,
            "masked_static_values": list(self.masked_static_values),
            "static_categorical_levels": list(
                self.static.categorical_levels[
                    len(self.masked_static_values) : len(self.masked_static_values)
                    + self.n_static_categorical
                ]
            ),
            "repeated_values": list(self.repeated_values),
            "embedding_dim": self.temporal.embedding_dim,
        }

    @classmethod
    def from_dict(cls, spec: dict) -> StateLayout:
        """Inverse of `to_dict`."""
        masked = tuple(spec["masked_values"])
        repeated = tuple(spec["repeated_values"])
        temporal_levels = (
            _mask_levels(masked, repeated)
            + tuple(spec["temporal_categorical_levels"])
            + ((2,) if spec["has_validity"] else ())
        )
        masked_static = tuple(spec["masked_static_values"])
        static_levels = (2,) * len(masked_static) + tuple(spec["static_categorical_levels"])
        return cls(
            max_length=spec["max_length"],
            temporal=BlockLayout(spec["n_values"], temporal_levels, spec["embedding_dim"]),
            static=BlockLayout(spec["n_static_values"], static_levels, spec["embedding_dim"]),
            n_values=spec["n_values"],
            masked_values=masked,
            n_temporal_categorical=len(spec["temporal_categorical_levels"]),
            has_validity=spec["has_validity"],
            n_static_values=spec["n_static_values"],
            masked_static_values=masked_static,
            n_static_categorical=len(spec["static_categorical_levels"]),
            repeated_values=repeated,
        )


def _mask_levels(masked_values, repeated_values) -> tuple:
    """Levels of the mask features: 0 missing, 1 measured, and 2 repeated where allowed."""
    return tuple(3 if k in repeated_values else 2 for k in masked_values)
