"""Long frame <-> padded (N, T, K) arrays: row order, time grid, fill rule and fresh ids."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._blocks import patient_blocks
from ..disclosure import MIN_PATIENTS, pooled_knots, rare_levels

# Namespace of the deterministic UUIDs given to synthetic patients.
_SYNTHETIC_NAMESPACE = uuid.UUID("6f1c3c52-9a0e-4d5b-8f43-2c6f0e7a1b9d")


@dataclass(frozen=True)
class RowLayout:
    """Where each row of a long frame goes in the padded arrays.

    Attributes
    ----------
    order : ndarray of shape (n_rows,), int64
        Row positions sorted by (patient, time).
    patient : ndarray of shape (n_rows,), int64
        Patient index of each sorted row.
    position : ndarray of shape (n_rows,), int64
        Time index of each sorted row within its patient (0 .. length - 1).
    lengths : ndarray of shape (N,), int64
        Rows per patient.
    first_rows : ndarray of shape (N,), int64
        Row position of each patient's first row (for per-patient columns).
    ids : pandas.Index
        Patient ids in patient order (sorted when the ids are sortable).
    """

    order: np.ndarray
    patient: np.ndarray
    position: np.ndarray
    lengths: np.ndarray
    first_rows: np.ndarray
    ids: pd.Index

    @property
    def n_patients(self) -> int:
        """Number of patients N."""
        return len(self.lengths)


def arrange_rows(ids, time_values) -> RowLayout:
    """Sort rows by (patient, time) and number them within each patient.

    Parameters
    ----------
    ids : pandas.Series of shape (n_rows,)
        Patient ids, without missing values.
    time_values : ndarray of shape (n_rows,)
        Times as sortable numbers (see :func:`time_to_numbers`).

    Returns
    -------
    RowLayout
        The permutation and the (patient, position) of each sorted row.
    """
    try:
        codes, uniques = pd.factorize(ids, sort=True)
    except TypeError:  # ids of mixed types: patients in order of first appearance
        codes, uniques = pd.factorize(ids, sort=False)
    codes = codes.astype(np.int64)
    order = np.lexsort((time_values, codes))
    patient = codes[order]
    lengths = np.bincount(patient, minlength=len(uniques)).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    position = np.arange(len(order), dtype=np.int64) - starts[patient]
    return RowLayout(
        order=order.astype(np.int64),
        patient=patient,
        position=position,
        lengths=lengths,
        first_rows=order[starts].astype(np.int64),
        ids=pd.Index(uniques, name=ids.name),
    )


def scatter(values, patient, position, shape, fill) -> np.ndarray:
    """Place row values (n_rows, K) into a padded array of `shape` (N, T, K)."""
    out = np.full(shape, fill, dtype=np.result_type(values.dtype, np.asarray(fill).dtype))
    out[patient, position] = values
    return out


def fill_unobserved(values, observed, valid) -> np.ndarray:
    """Fill unobserved cells: forward fill within the stay, then backward fill, then 0.

    Parameters
    ----------
    values : ndarray of shape (N, T, K)
        Values, arbitrary where unobserved.
    observed : ndarray of shape (N, T, K), bool
        True where a value was measured.
    valid : ndarray of shape (N, T), bool
        True inside the stay; cells outside are set to 0.

    Returns
    -------
    ndarray of shape (N, T, K)
        The filled values (0 is the median normal score, used for channels a patient never
        had measured), of `values`' dtype; `values` is left as it is.
    """
    filled = np.empty_like(values)
    for block in patient_blocks(values):
        filled[block] = _fill_block(values[block], observed[block], valid[block])
    return filled


def _fill_block(values, observed, valid) -> np.ndarray:
    n_patients, n_steps, n_channels = values.shape
    # Work on contiguous (N * K, T) rows: accumulating along a strided axis is much slower.
    rows = np.ascontiguousarray(values.transpose(0, 2, 1)).reshape(-1, n_steps)
    seen = np.ascontiguousarray(observed.transpose(0, 2, 1)).reshape(-1, n_steps)
    steps = np.arange(n_steps, dtype=np.int32)
    # Index of the last observation so far (-1: none yet) and of the next one (T: none left).
    last = np.maximum.accumulate(np.where(seen, steps, np.int32(-1)), axis=1)
    following = np.where(seen, steps, np.int32(n_steps))[:, ::-1]
    following = np.minimum.accumulate(following, axis=1)[:, ::-1]
    source = np.where(last >= 0, last, following)
    found = source < n_steps
    filled = np.take_along_axis(rows, np.minimum(source, n_steps - 1), axis=1)
    filled = np.where(found, filled, 0).reshape(n_patients, n_channels, n_steps)
    return filled.transpose(0, 2, 1) * valid[:, :, None]


# -- time ----------------------------------------------------------------------------------------
def time_to_numbers(times) -> tuple:
    """Convert times to numbers that sort like them; also tell whether they are integers.

    Datetimes and timedeltas become int64 counts of their own unit (UTC for tz-aware
    datetimes); integer dtypes become int64; floats stay float64.
    """
    dtype = times.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return times.array.asi8.astype(np.int64, copy=False), True
    if pd.api.types.is_integer_dtype(dtype):
        return times.to_numpy(dtype=np.int64), True
    return times.to_numpy(dtype=np.float64), False


def numbers_to_time(numbers, dtype, name) -> pd.Series:
    """Inverse of :func:`time_to_numbers`: a Series of `dtype`."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        naive = pd.Series(numbers.astype(f"datetime64[{dtype.unit}]"), name=name)
        return naive.dt.tz_localize("UTC").dt.tz_convert(dtype.tz)
    if pd.api.types.is_datetime64_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return pd.Series(numbers.astype(np.int64).view(dtype), name=name)
    if isinstance(dtype, np.dtype):
        return pd.Series(numbers.astype(dtype), name=name)
    return pd.Series(numbers, name=name).astype(dtype)


class TimeGrid:
    """How a patient's time steps map to times, learned from the sorted rows.

    Times are counted from each patient's first row when patients start at different times
    (a hospital export's charttimes: admission time plus hours), and the patient's start is
    then a per-patient value of its own, modelled with the statics (the start channel). The
    grid is *regular* when every patient's times are ``start + step * k`` for
    ``k = 0 .. length - 1`` with one step for all patients (PhysioNet's hours 0..47);
    positions then suffice. Otherwise the time is rebuilt from a *gap* per row: the time since
    the previous row (for the first row: since the origin, or 0 when starts vary). Integer
    times (and datetimes) are counted in `unit_`, the greatest common divisor of the gaps, so
    that gaps are small exact integers.

    The grid keeps no single patient's time (`cdmtehr.disclosure`): the origin and the
    smallest gap are the first pooled knots of the patients' first times and of their smallest
    gaps, exact where at least `min_patients` patients share them (all stays starting at hour
    0), else the mean of a group of that many patients, on the grid of `unit_`.

    Attributes
    ----------
    dtype_ : dtype
        The time column's dtype, restored exactly.
    integer_ : bool
        Whether times are integer counts (ints, datetimes, timedeltas, integral floats).
    origin_ : int or float
        Where starts (or, when all patients start together, the first gaps) are counted from,
        in the numbers of :func:`time_to_numbers`: the earliest first time that enough patients
        share, or the pooled mean of the earliest ones (so a few stays may start before it).
    starts_vary_ : bool
        Whether patients start at different times; times are then counted from each
        patient's first row and the start is a per-patient value (:meth:`starts`).
    start_unit_ : int or float or None
        Starts are multiples of this after the origin, in the numbers of
        :func:`time_to_numbers` (the greatest common divisor of the starts' distances to the
        origin: a minute for admissions recorded to the minute); 1.0 for non-integral float
        times; None when starts do not vary.
    unit_ : int or float
        Gaps are multiples of this (1.0 for non-integral float times).
    regular_ : bool
        Whether the times need no gap channel.
    step_ : int or float
        Step of a regular grid, in units; of an irregular one, `min_gap_`.
    min_gap_ : int or float
        The smallest gap between two rows of a patient that enough patients share, in units
        (gaps are clipped to it on the way back, so that rebuilt times stay strictly
        increasing); one unit (a millionth for float times) when fewer than `min_patients`
        patients have two rows.
    """

    def fit(self, times, layout: RowLayout, min_patients: int = MIN_PATIENTS) -> TimeGrid:
        """Learn the origin, unit and regularity from `times` (a Series) and its row layout.

        `min_patients` is the fewest patients behind the origin, the unit and the smallest gap.
        """
        self.dtype_ = times.dtype
        self.name_ = times.name
        numbers, integer = time_to_numbers(times)
        numbers = numbers[layout.order]
        if not integer and np.all(numbers == np.round(numbers)) and np.abs(numbers).max() < 2**53:
            numbers, integer = numbers.astype(np.int64), True
        self.integer_ = bool(integer)
        first = numbers[layout.position == 0]  # one per patient
        self.starts_vary_ = bool(np.any(first != first[0]))
        later = layout.position > 0
        within = numbers[later] - numbers[np.flatnonzero(later) - 1]
        # Times count from the common start, or from each patient's first row when starts
        # vary: a grid is regular when all gaps are one step.
        regular = bool(np.all(within == within[:1]))
        if integer:
            # The unit divides the gaps that enough patients share: one patient's odd gap
            # would otherwise set it. Other gaps are counted in whole units (floored).
            rare = rare_levels(within, layout.patient[later], min_patients)
            shared = np.setdiff1d(within, np.asarray(rare, dtype=within.dtype))
            self.unit_ = int(np.gcd.reduce(shared)) if shared.size else 1
            self.origin_ = _pooled_low(first, self.unit_, min_patients)
        else:
            self.unit_ = 1.0
            self.origin_ = float(pooled_knots(first, min_patients=min_patients)[0][0])
        self.start_unit_ = None
        if self.starts_vary_:
            # A divisor of every start's distance to the origin: no patient's start itself.
            self.start_unit_ = int(np.gcd.reduce(np.abs(first - self.origin_))) if integer else 1.0
        gaps = self._raw_gaps(numbers, layout)
        if integer:
            gaps = gaps // self.unit_
        step = gaps[later][0] if later.any() else (1 if integer else 1.0)
        if regular and not integer:
            # Float grids are regular only if start + step * k reproduces every time exactly.
            base = first[layout.patient] if self.starts_vary_ else self.origin_
            regular = bool(np.array_equal(base + step * layout.position, numbers))
        self.regular_ = regular
        smallest = np.full(layout.n_patients, np.inf)
        np.minimum.at(smallest, layout.patient[later], gaps[later])
        smallest = smallest[np.isfinite(smallest)]
        if integer:
            self.min_gap_ = max(_pooled_low(smallest, 1, min_patients, fallback=1), 1)
        else:
            knots, _ = pooled_knots(smallest, min_patients=min_patients)
            self.min_gap_ = float(knots[0]) if knots.size else 1e-6
        self.step_ = (step.item() if hasattr(step, "item") else step) if regular else self.min_gap_
        return self

    def _raw_gaps(self, numbers, layout) -> np.ndarray:
        first = layout.position == 0
        previous = np.concatenate([[self.origin_], numbers[:-1]]).astype(numbers.dtype)
        previous[first] = numbers[first] if self.starts_vary_ else self.origin_
        return numbers - previous

    def starts(self, times, layout: RowLayout) -> np.ndarray:
        """Each patient's start channel: its first time after the origin, in `start_unit_`."""
        first = self.first_numbers(times, layout)
        if self.integer_:
            return ((first.astype(np.int64) - self.origin_) // self.start_unit_).astype(np.float64)
        return (first - self.origin_).astype(np.float64)

    def start_numbers(self, starts) -> np.ndarray:
        """Inverse of :meth:`starts`: each patient's first time, as numbers."""
        starts = np.asarray(starts, dtype=np.float64)
        if self.integer_:
            return self.origin_ + np.round(starts).astype(np.int64) * self.start_unit_
        return self.origin_ + starts

    def first_numbers(self, times, layout: RowLayout) -> np.ndarray:
        """Each patient's first time, as numbers (what rebuilt times count from)."""
        numbers, _ = time_to_numbers(times)
        return numbers[layout.order][layout.position == 0]

    def gaps(self, times, layout: RowLayout) -> np.ndarray:
        """Gap of each sorted row to the previous one, in units (float64)."""
        numbers, _ = time_to_numbers(times)
        numbers = numbers[layout.order]
        if self.integer_:
            numbers = numbers.astype(np.int64)
            return (self._raw_gaps(numbers, layout) // self.unit_).astype(np.float64)
        return self._raw_gaps(numbers, layout).astype(np.float64)

    def times_from_positions(self, position, starts=None) -> pd.Series:
        """Return the times of a regular grid at the given positions.

        `starts` holds the start (as numbers) of each position's patient when starts vary.
        """
        base = self.origin_ if starts is None else np.asarray(starts)
        numbers = base + self.step_ * self.unit_ * np.asarray(position)
        return numbers_to_time(np.asarray(numbers), self.dtype_, self.name_)

    def times_from_gaps(self, gaps, valid, starts=None) -> np.ndarray:
        """Rebuild times (as numbers) of the valid cells from padded gaps (N, T) in units.

        `starts` holds each patient's start (as numbers) when starts vary.
        """
        gaps = gaps.copy()
        later = np.zeros_like(valid)
        later[:, 1:] = True
        if self.integer_:
            gaps = np.round(gaps)
        # Gaps after the first row stay positive, so times stay strictly increasing.
        first_gap = 0 if starts is not None else np.maximum(gaps, 0)
        gaps = np.where(later, np.maximum(gaps, self.min_gap_), first_gap)
        gaps = np.where(valid, gaps, 0)
        if self.integer_:
            offsets = np.cumsum(gaps.astype(np.int64), axis=1) * self.unit_
        else:
            offsets = np.cumsum(gaps, axis=1)
        base = self.origin_ if starts is None else np.asarray(starts)[:, None]
        return (base + offsets)[valid]

    def to_time(self, numbers) -> pd.Series:
        """Numbers back to the time dtype."""
        return numbers_to_time(np.asarray(numbers), self.dtype_, self.name_)


def _pooled_low(values, unit, min_patients, fallback=None):
    """A low value of integer `values` (one per patient) that is no single patient's: their
    first pooled knot (`cdmtehr.disclosure`) when enough patients share it, else that knot
    floored to a multiple of `unit` and moved down past any value that fewer than
    `min_patients` patients have. `fallback` when fewer than `min_patients` patients have
    values (the smallest value when there is none)."""
    values = np.asarray(values, dtype=np.int64)
    if not values.size:
        return fallback
    base = int(values.min())
    # Knots of the offsets from the smallest value: a datetime's nanoseconds overflow float64.
    knots, _ = pooled_knots((values - base).astype(np.float64), min_patients=min_patients)
    if not knots.size:
        return base if fallback is None else fallback
    low = base + math.floor(knots[0])
    rare = set(rare_levels(values, min_patients=min_patients))  # one value per patient
    if low in values and low not in rare:  # an atom: a value that enough patients share
        return low
    low = low // unit * unit
    while low in rare:
        low -= unit
    return low


# -- patient ids ---------------------------------------------------------------------------------
def id_kind(ids) -> str:
    """How fresh ids are made for this id column: integer, float, uuid or string."""
    dtype = ids.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "string"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    first = ids.iloc[0] if len(ids) else None
    if isinstance(first, uuid.UUID):
        return "uuid"
    return "string"


def fresh_ids(n, kind, dtype, name, start=0) -> pd.Index:
    """`n` new patient ids in the id column's dtype, numbered from `start`.

    Patient ``i`` (counting from 0) of a call gets number ``start + i``: the integer or float
    ``start + i``, the string ``"synthetic-<start + i + 1>"`` zero-padded to at least six
    digits, or a UUID derived deterministically from the number (``uuid5``). Consecutive calls
    with ``start = 0, n, 2n, ...`` therefore continue one sequence of distinct ids (streaming).

    Parameters
    ----------
    n : int
        Number of ids.
    kind : {"integer", "float", "uuid", "string"}
        How the ids are made (see :func:`id_kind`).
    dtype : dtype
        The id column's dtype; integer ids widen to int64 when it cannot hold the numbers.
    name : hashable
        Name of the returned Index.
    start : int, default=0
        Number of the first id.

    Returns
    -------
    pandas.Index of length n
        The ids.
    """
    numbers = np.arange(start, start + n, dtype=np.int64)
    if kind in ("integer", "float"):
        if kind == "integer" and isinstance(dtype, np.dtype) and n > 0:
            if start + n - 1 > np.iinfo(dtype).max:
                dtype = np.dtype(np.int64)  # the fitted dtype cannot count this many patients
        return pd.Index(pd.Series(numbers).astype(dtype), name=name)
    if kind == "uuid":
        return pd.Index(
            [uuid.uuid5(_SYNTHETIC_NAMESPACE, str(i)) for i in numbers], dtype=object, name=name
        )
    width = max(6, int(math.log10(max(start + n, 1))) + 1)
    labels = np.char.add("synthetic-", np.char.zfill((numbers + 1).astype(str), width))
    labels = labels.astype(object)
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Index(pd.Categorical(labels), name=name)
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return pd.Index(labels, dtype=dtype, name=name)
    return pd.Index(labels, dtype=object, name=name)
