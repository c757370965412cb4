"""Per-patient views of a long frame: summary features, padded sequences, privacy vectors."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from ._frames import align_category_types, category_levels, resolve_roles, subsample_patients

MISSING_LEVEL = "<missing>"
_STATS = ("mean", "std", "min", "max", "last")


def _one_hot(series, levels, prefix):
    """Build indicator columns ``prefix==level`` for each level, plus one for missing."""
    codes = pd.Categorical(series, categories=list(levels)).codes.astype(np.int64)
    codes[codes < 0] = len(levels)
    matrix = np.zeros((len(series), len(levels) + 1))
    matrix[np.arange(len(series)), codes] = 1.0
    names = [f"{prefix}=={level}" for level in levels] + [f"{prefix}=={MISSING_LEVEL}"]
    return pd.DataFrame(matrix, index=series.index, columns=names)


def summary_features(frame, roles, categories):
    """Per-patient summary features of a sorted long frame (internal, roles already resolved).

    Parameters
    ----------
    frame : DataFrame
        Long frame sorted by id then time, as returned by ``subsample_patients``.
    roles : ColumnRoles
        As returned by ``resolve_roles``.
    categories : dict of str to tuple
        Levels of each categorical column (``category_levels``).

    Returns
    -------
    DataFrame
        One row per patient (index: sorted ids), float columns.
    """
    ids = frame[roles.id_col]
    groups = frame.groupby(ids, sort=True)
    parts = []
    if roles.temporal_num_cols:
        cols = list(roles.temporal_num_cols)
        # "last" skips missing values: the latest measurement, what a clinician would read.
        stats = groups[cols].agg(list(_STATS))
        stats.columns = [f"{col}__{stat}" for col, stat in stats.columns]
        missing = frame[cols].isna().groupby(ids, sort=True).mean().add_suffix("__missing")
        parts += [stats, missing]
    for col in roles.temporal_cat_cols:
        # Share of the stay spent at each level (missing included).
        hot = _one_hot(frame[col], categories[col], col)
        parts.append(hot.groupby(ids, sort=True).mean())
    if roles.static_cols:
        static = groups[list(roles.static_cols)].first()
        if roles.static_num_cols:
            parts.append(static[list(roles.static_num_cols)].astype("float64"))
        for col in roles.static_cat_cols:
            parts.append(_one_hot(static[col], categories[col], col))
    parts.append(groups.size().rename("__length").astype("float64").to_frame())
    features = pd.concat(parts, axis=1)
    features.index.name = roles.id_col
    return features


def patient_features(
    frame,
    *,
    id_col,
    time_col,
    num_cols=None,
    cat_cols=None,
    static_cols=None,
):
    """Summarize each patient's stay as one row of features.

    The features are those the summary-based classifiers of :func:`evaluate` read:

    - each temporal numeric column ``c``: ``c__mean``, ``c__std``, ``c__min``, ``c__max``,
      ``c__last`` over the observed values (NaN when never observed) and ``c__missing``, the
      share of the patient's rows where ``c`` is missing;
    - each temporal categorical column: ``c==level``, the share of rows at each level
      (``c==<missing>`` included);
    - each static column: its value (numeric) or one indicator per level (categorical);
    - ``__length``: the number of rows of the patient.

    Parameters
    ----------
    frame : DataFrame
        Long frame, one row per (patient, time step).
    id_col, time_col : str
        Patient identifier and time column.
    num_cols, cat_cols, static_cols : list of str, optional
        Column roles; None infers them as :func:`evaluate` does (numeric dtypes are numeric,
        columns constant within every patient are static).

    Returns
    -------
    DataFrame
        One row per patient, indexed by the sorted patient ids, float64 columns.

    Raises
    ------
    InvalidDataError
        If a named column is absent or a numeric column does not hold numbers.

    Notes
    -----
    Computed with grouped pandas aggregations (no loop over patients), so it scales to
    hundreds of thousands of stays.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": [1, 1, 2, 2] * 5 + [3] * 20, "t": list(range(40)),
    ...                    "hr": [80.0, None] * 20})
    >>> patient_features(df, id_col="id", time_col="t").loc[3, "hr__missing"]
    np.float64(0.5)
    """
    roles = resolve_roles(
        {"frame": frame},
        id_col=id_col,
        time_col=time_col,
        num_cols=num_cols,
        cat_cols=cat_cols,
        static_cols=static_cols,
        min_patients=1,
    )
    categories = category_levels([frame], roles)
    return summary_features(subsample_patients(frame, roles, None, None), roles, categories)


class Cohort:
    """One evaluated frame with its per-patient views computed once and cached.

    Parameters
    ----------
    frame : DataFrame
        Long frame sorted by id then time (``subsample_patients`` output).
    roles : ColumnRoles
        As returned by ``resolve_roles``.
    categories : dict of str to tuple
        Levels of each categorical column, shared by the cohorts compared
        (``category_levels``).
    """

    def __init__(self, frame, roles, categories):
        self.frame = frame
        self.roles = roles
        self.categories = categories
        codes, self.ids = pd.factorize(frame[roles.id_col], sort=False)
        self.patient_index = codes
        self.position = frame.groupby(roles.id_col, sort=False).cumcount().to_numpy()
        self.lengths = np.bincount(codes, minlength=len(self.ids))

    @property
    def n_patients(self):
        """Number of patients."""
        return len(self.ids)

    @cached_property
    def summary(self):
        """Per-patient summary features (see :func:`patient_features`)."""
        return summary_features(self.frame, self.roles, self.categories)

    @cached_property
    def static(self):
        """Per-patient static columns and condition, first non-missing value."""
        cols = list(self.roles.static_cols)
        if self.roles.condition_col is not None:
            cols.append(self.roles.condition_col)
        return self.frame.groupby(self.roles.id_col, sort=True)[cols].first()

    def sequences(self, max_length):
        """Return padded arrays of the temporal columns.

        Parameters
        ----------
        max_length : int
            T; positions past it are dropped.

        Returns
        -------
        values : ndarray of shape (N, T, Kn), float64
            Numeric values, NaN where missing or in padding.
        codes : ndarray of shape (N, T, Kc), int64
            Level index of each categorical column, ``len(levels)`` for missing, -1 in padding.
        valid : ndarray of shape (N, T), bool
            True within the stay.
        """
        roles = self.roles
        shape = (self.n_patients, max_length)
        keep = self.position < max_length
        rows, cols = self.patient_index[keep], self.position[keep]
        values = np.full((*shape, len(roles.temporal_num_cols)), np.nan)
        if roles.temporal_num_cols:
            values[rows, cols] = self.frame[list(roles.temporal_num_cols)].to_numpy("float64")[keep]
        codes = np.full((*shape, len(roles.temporal_cat_cols)), -1, dtype=np.int64)
        for k, col in enumerate(roles.temporal_cat_cols):
            levels = self.categories[col]
            level = pd.Categorical(self.frame[col], categories=list(levels)).codes
            level = np.where(level < 0, len(levels), level)
            codes[rows, cols, k] = level[keep]
        valid = np.zeros(shape, dtype=bool)
        valid[rows, cols] = True
        return values, codes, valid


def privacy_vectors(features, reference, clip=5.0):
    """Standardized, imputed summary vectors for nearest-neighbour distances.

    Parameters
    ----------
    features : list of DataFrame
        Summary features of each cohort (same columns).
    reference : DataFrame
        The cohort whose means and standard deviations standardize every column (the real
        training data).
    clip : float, default=5.0
        Standardized values are clipped to [-clip, clip], so that one implausible raw value
        (pH 735) cannot dominate a distance.

    Returns
    -------
    list of ndarray of shape (N_i, F), float64
        Missing values become 0 (the reference mean) plus a 0/1 indicator column; identical
        indicator columns (e.g. the mean, min and max of a never-measured variable) are kept
        once.
    """
    mean = reference.mean()
    std = reference.std().replace(0.0, 1.0).fillna(1.0)
    stacked = pd.concat(features, axis=0, ignore_index=True)
    scaled = ((stacked - mean.fillna(0.0)) / std).clip(-clip, clip)
    missing = scaled.isna().to_numpy()
    indicators = missing[:, missing.any(axis=0)].astype(np.float64)
    if indicators.size:
        indicators = np.unique(indicators, axis=1)
    matrix = np.hstack([scaled.fillna(0.0).to_numpy("float64"), indicators])
    bounds = np.cumsum([0] + [len(f) for f in features])
    return [matrix[start:stop] for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


def prepare_cohorts(frames, roles, *, max_patients, random_state):
    """Cut each frame to `max_patients` patients and share the levels of every category.

    Parameters
    ----------
    frames : dict of str to DataFrame or None
        "real", "synthetic" and "holdout" (None when not given), checked by ``resolve_roles``.
    roles : ColumnRoles
        As returned by ``resolve_roles``.
    max_patients : int or None
    random_state : int or None

    Returns
    -------
    cohorts : dict of str to Cohort
        "real", "synthetic" and, when given, "holdout".
    seeds : ndarray of shape (3,)
        Seeds of the discriminative (and care), utility and privacy scores.
    """
    frames = {name: frame for name, frame in frames.items() if frame is not None}
    frames = align_category_types(frames, roles)
    categories = category_levels(frames.values(), roles)
    rng = np.random.default_rng(random_state)
    seeds = rng.integers(2**31 - 1, size=3)  # drawn up front: scores do not depend on `metrics`
    cohorts = {
        name: Cohort(subsample_patients(frame, roles, max_patients, rng), roles, categories)
        for name, frame in frames.items()
    }
    return cohorts, seeds
