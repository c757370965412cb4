"""Reversible per-column encoders: numbers to normal scores, categories to integer codes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import ndtri
from sklearn.base import BaseEstimator
from sklearn.preprocessing import QuantileTransformer
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..disclosure import MIN_PATIENTS, pooled_quantiles
from ..exceptions import DataWarning

# Normal scores travel as float32 (EncodedCohort). A score within this relative distance of a
# quantile knot's score is read as that knot, so that float32 round-off (~6e-8 |z|) does not
# move values seen in fit (most are knots: ties, extremes) off their exact value.
_SCORE_TOLERANCE = 1e-6

# Values are mapped affinely onto [0, _SPAN] before the quantile transform: scikit-learn sends
# every value within an absolute 1e-7 of the observed min or max to that bound, which would
# merge all values of a column measured on a tiny scale (1e-12) or next to its extremes.
_SPAN = 1e20

# A column whose range is more than this many "bulk scales" (the interquartile range, or the
# smallest gap between distinct values when that is 0) is mapped through asinh of the distance
# to its median before the affine map: one 3.4e38 sentinel would otherwise squeeze every other
# value into the same 1e-7 of the span, and all of them would get the same score.
_EXTREME_RATIO = 1e6



def _as_series(values) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.Index):
        return pd.Series(values, name=values.name)
    return pd.Series(values)


def can_hold_missing(dtype) -> bool:
    """Tell whether `dtype` has a missing value (numpy integers and booleans have none)."""
    if isinstance(dtype, np.dtype):
        return dtype.kind not in "biu"
    return True


def _to_float(series) -> np.ndarray:
    """Values as float64, NaN where missing (nullable and object numbers included)."""
    if pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype):
        # Every missing marker (None, NaN, pd.NA, NaT) is missing, as validation counts them;
        # pd.to_numeric would reject NaT.
        series = pd.to_numeric(series.where(series.notna(), np.nan))
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("float64") if can_hold_missing(series.dtype) else series
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _restore_numeric(values, dtype, name) -> pd.Series:
    """Float64 values (NaN = missing) as a Series of `dtype`."""
    if isinstance(dtype, np.dtype):
        if dtype.kind == "b":
            return pd.Series(values != 0, name=name)
        if dtype.kind == "O":
            out = values.astype(object)
            out[np.isnan(values)] = np.nan
            return pd.Series(out, name=name, dtype=object)
        return pd.Series(values.astype(dtype), name=name)
    return pd.Series(values, name=name).astype(dtype)


class NumericEncoder(BaseEstimator):
    """Quantile transform of one numeric column to normal scores, and its inverse.

    The column's distribution is kept as knots that groups of patients share
    (:func:`cdmtehr.disclosure.pooled_knots`, micro-aggregation): every number the fitted
    encoder keeps of the data is either a value that at least `min_patients_per_value`
    distinct patients have, or the mean of a group of at least that many patients in which
    each patient weighs once. So a saved model holds no value that only one patient (a rare
    lab result, the most extreme measurement) has: even the range ends `min_` and `max_` are
    the first and last knots, not the observed extremes.

    Missing values (NaN, None, pd.NA) are ignored in `fit` and kept as NaN by `transform`.
    The inverse clips to the range of the knots that are data (shared values and pooled
    means, all within the training range), rounds to the precision the data was
    recorded at (the fewest decimals, up to `max_decimals`, that every observed value has:
    heart rate in whole beats, pH in hundredths), and restores the column's dtype (numpy
    floats, ints and bools, nullable dtypes).

    Parameters
    ----------
    n_quantiles : int, default=1000
        Most knots of a column with more distinct values than this; a column with at most
        this many distinct values gets a knot for each value (or pooled run of values) that
        enough patients share.
    subsample : int, default=1_000_000
        Largest number of observed values used to find the knots; larger columns are
        subsampled.
    random_state : int, RandomState or None, default=0
        Seeds the subsample.
    max_decimals : int or None, default=6
        Most decimals searched for the recorded precision; a column whose values need more is
        not rounded. None never rounds (beyond integer columns).
    min_patients_per_value : int, default=MIN_PATIENTS
        Fewest distinct patients behind every value the encoder keeps
        (:data:`cdmtehr.disclosure.MIN_PATIENTS`). 1 keeps single patients' values, as a
        plain quantile transform does.

    Attributes
    ----------
    dtype_ : dtype
        The column's dtype, restored by `inverse_transform`.
    name_ : hashable
        The column's name.
    n_observed_ : int
        Observed (non-missing) values seen in `fit`.
    min_, max_ : float
        The first and last knot (NaN when nothing was observed): the ends of the quantile
        function, which a pooled group at an end continues beyond its mean. Decoded values
        stop at the outermost knots that are data, within them.
    integer_ : bool
        Whether every observed value was an integer.
    decimals_ : int or None
        The recorded precision: the fewest decimals every observed value has (0 for
        integers), which the inverse rounds to; None when no count up to `max_decimals` fits.
    quantile_transformer_ : QuantileTransformer or None
        The transform: its quantiles are the knots (mapped affinely onto a fixed span) and its
        references the cumulative share of the values at each knot's centre (0 and 1 at the
        ends). None for never-observed columns and for columns with a single knot (constant).
    robust_center_, robust_scale_ : float or None
        The median and the bulk scale (interquartile range, or the smallest gap between
        distinct values when it is 0) of a column with extreme values, whose range exceeds a
        million bulk scales: such a column is mapped through asinh((x - center) / scale)
        before the quantile transform, so that one huge value (a 3.4e38 sentinel) does not
        merge all the others into one score, and a `DataWarning` names the values. None for
        every other column (the plain affine map).
    knot_values_, knot_scores_ : ndarray
        The knots and their normal scores: a score within float32 round-off of a knot's
        score decodes to the knot exactly (set when `quantile_transformer_` is).

    Raises
    ------
    ValueError
        From `fit`, when fewer than `min_patients_per_value` patients have values in the
        column: nothing of it could be kept.

    Notes
    -----
    Scikit-learn's `QuantileTransformer` with ``output_distribution="normal"`` maps values
    to a standard normal by piecewise-linear interpolation between the knots, and the inverse
    interpolates back. In a column with few distinct values (at most `n_quantiles`), a value
    that at least `min_patients_per_value` patients share is a knot of its own (unless a
    rarer value next to it is pooled with it), so `inverse_transform(transform(x))` returns
    it exactly, even after the scores went through float32; with
    ``min_patients_per_value=1`` that holds for every value seen in `fit`, as for a plain
    quantile transform. A value in a sparse region (one that few patients have, or beyond the
    outer knots) comes back as a nearby value: a point between the knots around it, or the
    outer knot. A value that a share of the data has scores at the middle of its share, at
    either end too (a GCS of 3 in 8 % of the hours at -1.75, not at the transform's bound of
    -5.2), so that no point mass lies apart in the tail.
    """

    def __init__(self, *, n_quantiles=1000, subsample=1_000_000, random_state=0, max_decimals=6,
                 min_patients_per_value=MIN_PATIENTS):
        self.n_quantiles = n_quantiles
        self.subsample = subsample
        self.random_state = random_state
        self.max_decimals = max_decimals
        self.min_patients_per_value = min_patients_per_value

    def fit(self, values, patients=None) -> NumericEncoder:
        """Learn the pooled quantiles of the observed values.

        Parameters
        ----------
        values : pandas.Series or array-like of shape (n,)
            One numeric column; missing values are ignored.
        patients : array-like of shape (n,), optional
            The patient of each value (any hashable ids); by default every value is a patient
            of its own.

        Returns
        -------
        self : NumericEncoder
            The fitted encoder.

        Raises
        ------
        ValueError
            If fewer than `min_patients_per_value` patients have values in the column (but
            some do), or `patients` does not have one entry per value.
        """
        series = _as_series(values)
        self.dtype_ = series.dtype
        self.name_ = series.name
        x = _to_float(series)
        if patients is None:
            patients = np.arange(x.size)
        patients = np.asarray(patients).reshape(-1)
        if patients.size != x.size:
            raise ValueError(
                f"Got {patients.size} patient ids for {x.size} values of {self._column()}."
            )
        seen = ~np.isnan(x)
        observed, observed_patients = x[seen], patients[seen]
        self.n_observed_ = int(observed.size)
        self.robust_center_ = self.robust_scale_ = None
        if observed.size == 0:
            self.min_, self.max_, self.integer_, self.decimals_ = np.nan, np.nan, False, None
            self.quantile_transformer_ = None
            return self
        self.integer_ = bool(np.all(observed == np.round(observed)))
        self.decimals_ = 0 if self.integer_ else _recorded_decimals(observed, self.max_decimals)
        distinct = np.unique(observed)
        if observed.size > self.subsample:
            rng = check_random_state(self.random_state)
            picked = np.sort(rng.choice(observed.size, size=self.subsample, replace=False))
            observed, observed_patients = observed[picked], observed_patients[picked]
        # Few distinct values: no bound on the number of knots beyond the patients, so that
        # every value that enough patients share stays a knot of its own (it has at most
        # n_quantiles of them anyway).
        max_knots = None if distinct.size <= self.n_quantiles else self.n_quantiles
        points, levels = pooled_quantiles(
            observed, observed_patients, self.min_patients_per_value, max_knots=max_knots
        )
        if points.size == 0:
            n_patients = len(pd.unique(observed_patients))
            raise ValueError(
                f"{self._column()} is measured in only {n_patients} patient(s); a fitted "
                f"model keeps no value that fewer than {self.min_patients_per_value} patients "
                "share (min_patients_per_value). Pass more patients, drop the column, or "
                "lower min_patients_per_value."
            )
        knots = np.unique(points)
        self.min_, self.max_ = float(knots[0]), float(knots[-1])
        if knots.size == 1:  # every value pooled into one: a constant column at that knot
            self.quantile_transformer_ = None
            return self
        self._fit_robust_scale(observed, distinct)
        spans = self._to_span(points)
        qt = QuantileTransformer(
            n_quantiles=points.size, output_distribution="normal", subsample=None
        ).fit(spans[:, None])
        # The transform reads only quantiles_ and references_ (interpolating between them): the
        # points of the smoothed quantile function (a shared value twice, at the edges of its
        # share, which scikit-learn maps to the middle of that share, as it does for ties).
        qt.quantiles_ = spans[:, None]
        qt.references_ = levels
        qt.n_quantiles_ = points.size
        self.quantile_transformer_ = qt
        self.knot_values_ = knots
        self.knot_scores_ = self._scores(knots)
        return self

    def transform(self, values) -> np.ndarray:
        """Map values to normal scores.

        Parameters
        ----------
        values : pandas.Series or array-like of shape (n,)
            Values of the fitted column.

        Returns
        -------
        ndarray of shape (n,), float64
            Normal scores; NaN where the value is missing. Constant columns score 0.
        """
        check_is_fitted(self, "n_observed_")
        x = _to_float(_as_series(values))
        if self.quantile_transformer_ is None:
            return np.where(np.isnan(x), np.nan, 0.0)
        return self._scores(x)

    def _scores(self, x):
        """The quantile transform's normal scores of values `x`, a shared lowest value scored
        like every other shared value: at the middle of its share.

        Scikit-learn sends every value within 1e-7 of the lowest point to the bound of its
        output (-5.2), which suits a lowest value that is a single point at level 0. But the
        lowest value may be one that a share of the data has (a GCS of 3 in 8 % of the hours,
        no urine in an hour): at -5.2 it would lie in a point mass far out in the tail, apart
        from the rest by a gap that a diffusion model fills with values that all decode to it
        (twice as many GCS of 3 as real). At the highest value the span spares scikit-learn's
        bound (1e20 + 1e-7 rounds to 1e20), so only the lowest needs this.
        """
        qt = self.quantile_transformer_
        spans = self._to_span(np.asarray(x, dtype="float64"))
        scores = qt.transform(spans[:, None])[:, 0]
        points, levels = qt.quantiles_[:, 0], qt.references_
        share = levels[points == points[0]].max()
        if share > 0:
            scores = np.where(spans == points[0], ndtri(share / 2), scores)
        return scores

    def inverse_transform(self, scores) -> pd.Series:
        """Map normal scores back to values of the original dtype.

        Parameters
        ----------
        scores : array-like of shape (n,)
            Normal scores, from `transform` or from a model; NaN means missing.

        Returns
        -------
        pandas.Series of shape (n,)
            Values clipped to the outermost knots that are data (inside the training
            range), rounded to the recorded precision, in `dtype_`.

        Raises
        ------
        ValueError
            If a score is NaN but `dtype_` has no missing value (numpy integers, booleans).
        """
        check_is_fitted(self, "n_observed_")
        z = np.asarray(scores, dtype="float64").reshape(-1)
        missing = np.isnan(z)
        if missing.any() and not can_hold_missing(self.dtype_):
            raise ValueError(
                f"Column '{self.name_}' has dtype {self.dtype_}, which cannot hold missing "
                "values, but some scores are NaN."
            )
        qt = self.quantile_transformer_
        if qt is None:
            x = np.where(missing, np.nan, self.min_)
        else:
            x = self._from_span(qt.inverse_transform(z[:, None])[:, 0])
            knot, close = self._nearest_knot(z)
            x = np.where(close, self.knot_values_[knot], x)
        # Rounded after clipping: the bounds are knots, which may be means of several
        # patients' values, finer than the recorded precision; rounding last keeps every
        # decoded value at that precision (it may then lie half a unit beyond the knots).
        x = np.clip(x, *self._data_range())
        if self.decimals_ is not None:
            x = np.round(x, self.decimals_)
        return _restore_numeric(x, self.dtype_, self.name_)

    def _data_range(self):
        """The range of the decoded values: the outermost knots that are data.

        A pooled group at either end is continued linearly to level 0 (or 1) in the quantile
        function (`cdmtehr.disclosure.pooled_quantiles`), and that end point (`min_`,
        `max_`) may lie beyond every training value: a continued FiO2 of 0.17 below the
        room air of 0.21. Every other knot is a value that patients share or the mean of a
        group of patients' values, so it lies within the training range; decoding stops at
        the outermost of them. An end point is a single point at level 0 (or 1): an atom
        at an end has two points, at the edges of its share.
        """
        qt = self.quantile_transformer_
        if qt is None:
            return self.min_, self.max_
        spans, levels = qt.quantiles_[:, 0], qt.references_
        low = self.knot_values_[1] if levels[0] == 0 and spans[0] < spans[1] else self.min_
        high = self.knot_values_[-2] if levels[-1] == 1 and spans[-1] > spans[-2] else self.max_
        return low, high

    def _fit_robust_scale(self, observed, distinct) -> None:
        """Use the asinh map when extreme values would squeeze the rest; warn, naming them."""
        q25, median, q75 = np.percentile(observed, [25, 50, 75])
        scale = q75 - q25 if np.isfinite(q75 - q25) and q75 > q25 else np.diff(distinct).min()
        if not np.isfinite(scale) or scale <= 0:
            return
        with np.errstate(over="ignore"):
            ratio = (self.max_ / 2 - self.min_ / 2) / scale * 2
        if ratio <= _EXTREME_RATIO:
            return
        self.robust_center_, self.robust_scale_ = float(median), float(scale)
        with np.errstate(over="ignore"):
            distance = np.abs(distinct / 2 - median / 2) / scale * 2
        extreme = distinct[distance > _EXTREME_RATIO]
        if not extreme.size:  # only the pooled ends lie that far out: no value to name
            return
        examples = ", ".join(f"{v:.6g}" for v in extreme[np.argsort(-distance[distance >
                                                                             _EXTREME_RATIO])][:3])
        warnings.warn(
            f"{self._column()} has {extreme.size} value(s) more than a million times its "
            f"interquartile range ({scale:.6g}) from its median ({median:.6g}), e.g. "
            f"{examples}. Such values are often sentinels for 'unknown' (3.4e38 is the largest "
            "float32); they are kept and the column is scaled robustly, so the other values "
            "keep their differences, but replace them with NaN if they are not measurements.",
            DataWarning,
            stacklevel=4,
        )

    def _column(self) -> str:
        return "A numeric column" if self.name_ is None else f"Column '{self.name_}'"

    def _compress(self, x):
        """asinh((x - center) / scale), without overflow for any finite x."""
        center, scale = self.robust_center_, self.robust_scale_
        half = np.asarray(x, dtype="float64") / 2 - center / 2  # finite for finite x
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            z = half / scale * 2
            far = np.sign(half) * (np.log(np.abs(half)) + np.log(4.0) - np.log(scale))
            return np.where(np.isfinite(z), np.arcsinh(z), far)

    def _expand(self, y):
        """Inverse of `_compress` (values beyond the largest float become +-inf)."""
        center, scale = self.robust_center_, self.robust_scale_
        y = np.asarray(y, dtype="float64")
        with np.errstate(over="ignore", invalid="ignore"):
            half = np.where(
                np.abs(y) < 700,
                np.sinh(np.clip(y, -700, 700)) * scale / 2,
                np.sign(y) * np.exp(np.abs(y) + np.log(scale) - np.log(4.0)),
            )
            return (center / 2 + half) * 2

    # A range wider than the largest float (-1e308 .. 1e308) is mapped in halves so that it
    # does not overflow. Only then: halving a subnormal range (0 .. 5e-324) would lose it.
    # Where both forms work they agree exactly (halving commutes with rounding).
    def _halved(self) -> bool:
        with np.errstate(over="ignore"):
            return not np.isfinite(self.max_ - self.min_)

    def _to_span(self, x):
        if self.robust_scale_ is not None:
            low, high = self._compress([self.min_, self.max_])
            return (self._compress(x) - low) / (high - low) * _SPAN
        if self._halved():
            return (x / 2 - self.min_ / 2) / (self.max_ / 2 - self.min_ / 2) * _SPAN
        return (x - self.min_) / (self.max_ - self.min_) * _SPAN

    def _from_span(self, x):
        if self.robust_scale_ is not None:
            low, high = self._compress([self.min_, self.max_])
            return self._expand(low + np.asarray(x) / _SPAN * (high - low))
        if self._halved():
            return (self.min_ / 2 + x / _SPAN * (self.max_ / 2 - self.min_ / 2)) * 2
        return self.min_ + x / _SPAN * (self.max_ - self.min_)

    def _nearest_knot(self, z):
        """Index of the knot whose score is nearest to `z`, and whether it is within tolerance."""
        scores = self.knot_scores_
        right = np.clip(np.searchsorted(scores, z), 1, scores.size - 1)
        left = right - 1
        with np.errstate(invalid="ignore"):
            knot = np.where(np.abs(z - scores[left]) <= np.abs(scores[right] - z), left, right)
            close = np.abs(z - scores[knot]) <= _SCORE_TOLERANCE * np.maximum(1.0, np.abs(z))
        return knot, close


def _recorded_decimals(values, max_decimals):
    """The fewest decimals d <= max_decimals with round(v, d) == v (to float round-off) for all v."""
    if max_decimals is None:
        return None
    # A few units in the last place: np.round scales by 10**d, which costs some ulps, but a
    # dropped decimal (500.8515625 at 6 decimals is off by 5e-7) is far more than that. Also
    # at most a billionth of the value: a subnormal (5e-324) is a few ulps from 0 but not 0.
    magnitude = np.abs(values)
    with np.errstate(over="ignore", invalid="ignore"):  # the spacing of the largest float
        tolerance = np.minimum(16 * np.spacing(magnitude), 1e-9 * magnitude)
        for decimals in range(1, max_decimals + 1):
            if np.all(np.abs(np.round(values, decimals) - values) <= tolerance):
                return decimals
    return None


class CategoricalEncoder(BaseEstimator):
    """Integer codes for the levels of one categorical column, and their exact inverse.

    The vocabulary is the levels observed in `fit`: in category order for a pandas
    ``category`` column, sorted when the values are sortable, otherwise in order of first
    appearance. A missing value (NaN, None, pd.NA) is a level of its own, last, when the
    fitted column has any.

    Attributes
    ----------
    dtype_ : dtype
        The column's dtype, restored exactly by `inverse_transform` (a ``category`` dtype
        keeps its full list of categories, unused ones included).
    name_ : hashable
        The column's name.
    levels_ : pandas.Index
        Observed non-missing levels; code ``i`` is ``levels_[i]``.
    has_missing_ : bool
        Whether missing is a level (code ``len(levels_)``).
    missing_value_ : object
        The missing marker restored by the inverse (the first one seen: NaN, None or pd.NA).
    n_levels_ : int
        Vocabulary size, missing level included.
    """

    def fit(self, values) -> CategoricalEncoder:
        """Learn the vocabulary.

        Parameters
        ----------
        values : pandas.Series or array-like of shape (n,)
            One categorical column.

        Returns
        -------
        self : CategoricalEncoder
            The fitted encoder.
        """
        series = _as_series(values)
        self.dtype_ = series.dtype
        self.name_ = series.name
        missing = series.isna().to_numpy()
        if isinstance(series.dtype, pd.CategoricalDtype):
            used = np.unique(series.cat.codes.to_numpy()[~missing])
            levels = series.cat.categories[used]
        else:
            levels = pd.Index(pd.unique(series[~missing]), dtype=series.dtype)
            try:
                levels = levels.sort_values()
            except TypeError:  # mixed types: keep the order of first appearance
                pass
        self.levels_ = levels
        self.has_missing_ = bool(missing.any())
        self.missing_value_ = series[missing].iloc[0] if self.has_missing_ else np.nan
        self.n_levels_ = len(levels) + int(self.has_missing_)
        return self

    def transform(self, values) -> np.ndarray:
        """Map values to codes.

        Parameters
        ----------
        values : pandas.Series or array-like of shape (n,)
            Values of the fitted column.

        Returns
        -------
        ndarray of shape (n,), int64
            Codes in ``[0, n_levels_)``.

        Raises
        ------
        ValueError
            If a value (or a missing value) was never seen in `fit`.
        """
        check_is_fitted(self, "n_levels_")
        series = _as_series(values)
        missing = series.isna().to_numpy()
        if isinstance(series.dtype, pd.CategoricalDtype):
            # Map each category once, then look the row codes up (-1 stays missing).
            lookup = np.append(self.levels_.get_indexer(series.cat.categories), -1)
            codes = lookup[series.cat.codes.to_numpy()].astype(np.int64)
        else:
            codes = self.levels_.get_indexer(series).astype(np.int64)
        unknown = (codes < 0) & ~missing
        if unknown.any():
            shown = list(pd.unique(series[unknown]))[:5]
            raise ValueError(
                f"Column '{self.name_}' has levels never seen in fit: {shown}."
            )
        if missing.any():
            if not self.has_missing_:
                raise ValueError(
                    f"Column '{self.name_}' has missing values, but had none in fit."
                )
            codes[missing] = len(self.levels_)
        return codes

    def inverse_transform(self, codes) -> pd.Series:
        """Map codes back to values of the original dtype.

        Parameters
        ----------
        codes : array-like of shape (n,), int
            Codes in ``[0, n_levels_)``.

        Returns
        -------
        pandas.Series of shape (n,)
            The levels, in `dtype_`.

        Raises
        ------
        ValueError
            If a code is outside ``[0, n_levels_)``.
        """
        check_is_fitted(self, "n_levels_")
        codes = np.asarray(codes).reshape(-1).astype(np.int64)
        if codes.size and (codes.min() < 0 or codes.max() >= self.n_levels_):
            raise ValueError(
                f"Column '{self.name_}' has {self.n_levels_} levels; got codes outside "
                f"[0, {self.n_levels_ - 1}]."
            )
        if isinstance(self.dtype_, pd.CategoricalDtype):
            # Positions in the dtype's full category list; the missing level is -1.
            positions = self.dtype_.categories.get_indexer(self.levels_)
            lookup = np.append(positions, [-1] * self.has_missing_).astype(np.int64)
            values = pd.Categorical.from_codes(lookup[codes], dtype=self.dtype_)
            return pd.Series(values, name=self.name_)
        lookup = np.empty(self.n_levels_, dtype=object)
        lookup[: len(self.levels_)] = np.asarray(self.levels_, dtype=object)
        if self.has_missing_:
            lookup[-1] = self.missing_value_
        values = lookup[codes]
        return pd.Series(values, name=self.name_, dtype=self.dtype_)
