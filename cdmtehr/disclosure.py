"""What a fitted model may keep of its training patients: numbers that groups of them share.

A fitted model keeps statistics of its training cohort: the quantiles of every numeric column,
the profiles that the first stage draws. Kept as they are, those hold single patients' values
(the one cholesterol a patient had measured, the longest stay's exact mean heart rate). Every
number that `pooled_knots` returns is instead either a value that at least `min_patients`
patients have, or the mean of a group of at least `min_patients` patients in which each patient
weighs once: micro-aggregation (Defays & Anwar 1998, *Masking microdata using
micro-aggregation*, J. Official Statistics 14(4); Domingo-Ferrer & Mateo-Sanz 2002,
*Practical data-oriented microaggregation for statistical disclosure control*, IEEE TKDE
14(1)). The groups are runs of the sorted values, so the knots follow the distribution's
shape, and they are returned in value order: no trace of the rows' order is kept.

Far values (`bulk_bounds`: beyond eight interquartile ranges from the quartiles, on a log
scale for positive columns, the report's rule for values to check) are never pooled with the
bulk: averaged with four ordinary values, one recorded pH of 1 would make a knot of 5.9,
which no patient has and which a generator then draws far more often than the data holds
such values. The far values of one side form groups of their own when at least
`min_patients` patients have them, and are otherwise counted with the outermost bulk knot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Fewest training patients behind any number a fitted model keeps (docs/privacy.md).
MIN_PATIENTS = 5

# Far values lie more than this many interquartile ranges beyond the quartiles (`bulk_bounds`).
FAR_IQRS = 8.0

__all__ = ["FAR_IQRS", "MIN_PATIENTS", "bulk_bounds", "pooled_knots", "pooled_quantiles",
           "rare_levels", "shared_ceiling"]


def bulk_bounds(values, k: float = FAR_IQRS):
    """The range outside which a value is far from the bulk of `values`.

    `k` interquartile ranges beyond the quartiles, on a log scale when every value is
    positive (so that a heavy but real tail, ALT in the thousands, is inside, while a pH of
    735 next to 7.35 is outside).

    Parameters
    ----------
    values : array-like
        Values; non-finite ones are ignored.
    k : float, default=FAR_IQRS

    Returns
    -------
    (float, float) or None
        Values below the first or above the second are far; None when the values have no
        spread (the quartiles are equal) or there are none.
    """
    values = np.asarray(values, dtype="float64").reshape(-1)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    log = values.min() > 0
    scaled = np.log10(values) if log else values
    q1, q3 = np.quantile(scaled, [0.25, 0.75])
    spread = q3 - q1
    if not spread > 0 or not np.isfinite(spread):
        return None
    low, high = q1 - k * spread, q3 + k * spread
    return (10.0**low, 10.0**high) if log else (low, high)


def pooled_knots(values, patients=None, min_patients: int = MIN_PATIENTS,
                 max_knots: int | None = None) -> tuple:
    """The distribution of `values` as knots that groups of patients share, and their weights.

    A value that at least `min_patients` distinct patients have is kept exactly (an atom; the
    `max_knots` heaviest of them, under a limit). The sorted values between two atoms are cut
    into groups of whole distinct values (a tie is never split), each with values of at least
    `min_patients` distinct patients and, under `max_knots`, at least ``len(values) /
    max_knots`` values; a group becomes the mean, over its patients, of each patient's mean
    value in it. Rare values between two atoms that fewer patients have than a group needs are
    counted with the nearer atom. With ``min_patients=1`` and few enough distinct values, the
    knots are the distinct values themselves.

    Parameters
    ----------
    values : array-like of shape (n,)
        Finite values.
    patients : array-like of shape (n,), optional
        The patient of each value; by default every value is a patient of its own.
    min_patients : int, default=MIN_PATIENTS
        Fewest distinct patients behind a knot.
    max_knots : int, optional
        Most knots (None: no limit beyond `min_patients`).

    Returns
    -------
    knots : ndarray of float64, increasing
        Empty when fewer than `min_patients` patients have values.
    weights : ndarray of float64
        The share of the values behind each knot (sums to 1).
    """
    knots, weights, _ = _pooled_groups(values, patients, min_patients, max_knots)
    return knots, weights


def pooled_quantiles(values, patients=None, min_patients: int = MIN_PATIENTS,
                     max_knots: int | None = None, common=None) -> tuple:
    """A smoothed quantile function of `values` through the knots of `pooled_knots`.

    Piecewise linear through (level, value) points: a knot that its group shares exactly is
    an atom, two points of that value at the edges of its share (so it keeps its probability
    mass, as a count of zero or a single recorded value does); a pooled mean is one point at
    the middle of its group's share. Between points the quantile function is linear, so a
    draw ``np.interp(u, levels, values)`` spreads each pooled group's mass continuously
    instead of repeating its mean. A pooled group at either end is continued linearly to
    level 0 (or 1), with the slope to the next point: the tails keep their spread rather than
    stopping at the mean of the most extreme patients, and the end point is no one's value
    (nor of another sign than all the values: a count does not fall below 0).

    Parameters
    ----------
    values, patients, min_patients, max_knots
        As `pooled_knots`.
    common : array-like, optional
        The values to keep exactly (atoms) however few of `values` have them: values that at
        least `min_patients` patients share in a larger table that `values` is part of (a
        tree's leaf of a column). By default, those `values` themselves share so.

    Returns
    -------
    points : ndarray of float64, non-decreasing
        Empty when fewer than `min_patients` patients have values.
    levels : ndarray of float64, non-decreasing, in [0, 1]
    """
    knots, weights, shared, part = _pooled_groups(values, patients, min_patients, max_knots,
                                                  common, parts=True)
    upper = np.minimum(np.cumsum(weights), 1.0)
    lower = upper - weights
    # Each knot is (up to) three points: the lower edge of its share, the middle, the upper
    # edge. An atom holds its value over its share; a pooled mean is its middle, and also
    # holds its value out to the edge where far and bulk values meet, so that no mass is
    # spread into the gap between them.
    first = np.r_[False, part[1:] != part[:-1]]
    last = np.r_[part[1:] != part[:-1], False]
    nan = np.full_like(knots, np.nan)
    points = np.column_stack([np.where(shared | first, knots, nan),
                              np.where(shared, nan, knots),
                              np.where(shared | last, knots, nan)]).reshape(-1)
    levels = np.column_stack([lower, (lower + upper) / 2, upper]).reshape(-1)
    kept = ~np.isnan(points)
    points, levels = points[kept], levels[kept]
    if len(points) > 1 and levels[0] > 0:
        slope = (points[1] - points[0]) / (levels[1] - levels[0])
        points, levels = np.r_[points[0] - slope * levels[0], points], np.r_[0.0, levels]
    if len(points) > 1 and levels[-1] < 1:
        slope = (points[-1] - points[-2]) / (levels[-1] - levels[-2])
        points = np.r_[points, points[-1] + slope * (1.0 - levels[-1])]
        levels = np.r_[levels, 1.0]
    if len(points):  # a continued tail keeps the sign of the data (no negative counts)
        values = np.asarray(values, dtype=np.float64)
        if values.min() >= 0:
            points = np.maximum(points, 0.0)
        if values.max() <= 0:
            points = np.minimum(points, 0.0)
    return points, levels


def rare_levels(values, patients=None, min_patients: int = MIN_PATIENTS) -> list:
    """Levels of a categorical column that fewer than `min_patients` distinct patients have.

    A model keeps every level of a categorical column as it is (there is nothing to pool), so
    such a level would be one patient's value in the file. Missing values are no level.

    Parameters
    ----------
    values : array-like of shape (n,)
        One categorical column.
    patients : array-like of shape (n,), optional
        The patient of each value; by default every value is a patient of its own.
    min_patients : int, default=MIN_PATIENTS

    Returns
    -------
    list
        The rare levels, in order of first appearance.
    """
    frame = pd.DataFrame({"level": np.asarray(values, dtype=object)})
    frame["patient"] = np.arange(len(frame)) if patients is None else np.asarray(patients)
    frame = frame[pd.notna(frame["level"])].drop_duplicates()
    counts = frame.groupby("level", sort=False)["patient"].size()
    return counts.index[counts.to_numpy() < min_patients].tolist()


def shared_ceiling(values, min_patients: int = MIN_PATIENTS) -> int:
    """An integer bound at or above every one of `values` (one per patient) that is no single
    patient's value: the largest value itself when at least `min_patients` patients have it,
    else the next number above it with at most three significant binary digits (within 25 %).

    A model pads every stay to its longest; kept exactly, the longest stay's length is one
    patient's. Rounded up, the bound says only which quarter-octave it lies in.

    Parameters
    ----------
    values : array-like of int, shape (n,)
        Non-negative integers, one per patient (stay lengths).
    min_patients : int, default=MIN_PATIENTS

    Returns
    -------
    int
    """
    values = np.asarray(values, dtype=np.int64)
    largest = int(values.max())
    if np.count_nonzero(values == largest) >= min_patients:
        return largest
    step = 1 << max(largest.bit_length() - 3, 0)  # 2**(floor(log2) - 2): four steps per octave
    return (largest // step + 1) * step


def _pooled_groups(values, patients, min_patients, max_knots, common=None,
                   parts=False) -> tuple:
    """`pooled_knots`, and whether each knot is a value its group shares (an atom); with
    `parts`, also whether each knot pools far values below (-1), bulk values (0) or far
    values above (1).

    The far values of each side (`bulk_bounds`) are pooled among themselves when at least
    `min_patients` patients have them, else counted with the outermost knot of the rest."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if patients is None:
        patients = np.arange(values.size)
    _, patients = np.unique(np.asarray(patients).reshape(-1), return_inverse=True)
    if values.size == 0 or len(np.unique(patients)) < min_patients:
        empty = np.empty(0), np.empty(0), np.empty(0, dtype=bool), np.empty(0, dtype=np.int8)
        return empty if parts else empty[:3]
    least = 1 if max_knots is None else values.size / max_knots
    bounds = bulk_bounds(values)
    side = np.zeros(values.size, dtype=np.int8)  # -1 far below, 0 bulk, 1 far above
    if bounds is not None:
        side[values < bounds[0]] = -1
        side[values > bounds[1]] = 1
    bulk = side == 0
    if bulk.all() or len(np.unique(patients[bulk])) < min_patients:
        side[:] = 0
    pieces, folded = [], {}
    for s in (-1, 0, 1):
        part = side == s
        if s and part.any() and len(np.unique(patients[part])) < min_patients:
            folded[s] = int(part.sum())  # too few patients to pool: onto the outer bulk knot
            continue
        if part.any():
            knots, weights, shared, size = _grouped(values[part], patients[part], min_patients,
                                                    max_knots, least, common)
            pieces.append((knots, weights * size, shared, np.full(knots.size, s, np.int8)))
    knots, counts, shared, side_of = (np.concatenate(column) for column in zip(*pieces))
    counts[0] += folded.get(-1, 0)
    counts[-1] += folded.get(1, 0)
    result = knots, counts / values.size, shared, side_of
    return result if parts else result[:3]


def _grouped(values, patients, min_patients, max_knots, least, common=None) -> tuple:
    """`_pooled_groups` of values not split into far and bulk values; with the number of
    values, so that parts can be weighed together. `least`: fewest values of a group."""
    order = np.argsort(values, kind="stable")
    values, patients = values[order], patients[order]
    distinct, run_start, run_size = np.unique(values, return_index=True, return_counts=True)
    run_stop = run_start + run_size
    if common is None:
        pairs = np.unique(np.stack([np.repeat(np.arange(len(distinct)), run_size), patients]),
                          axis=1)
        atom = np.bincount(pairs[0], minlength=len(distinct)) >= min_patients
    else:
        atom = np.isin(distinct, np.asarray(common, dtype=np.float64))
    if max_knots is not None and atom.sum() > max_knots:  # the heaviest values stay atoms
        heaviest = np.flatnonzero(atom)[np.argsort(-run_size[atom], kind="stable")[:max_knots]]
        atom = np.isin(np.arange(len(distinct)), heaviest)
    # (start, stop, is_atom) of each group of sorted values; rare values between atoms are
    # pooled when enough patients have them, else counted with the nearest atom.
    groups, run = [], 0
    atoms = np.flatnonzero(atom)
    while run < len(distinct):
        if atom[run]:
            groups.append([run_start[run], run_stop[run], True])
            run += 1
            continue
        end = run
        while end < len(distinct) and not atom[end]:
            end += 1
        start, stop = run_start[run], run_stop[end - 1]
        if len(np.unique(patients[start:stop])) >= min_patients or not len(atoms):
            cuts = _group_starts(run_start[run:end] - start, run_size[run:end],
                                 patients[start:stop], least, min_patients)
            bounds = np.append(run_start[run:end][cuts], stop)
            groups += [[a, b, False] for a, b in zip(bounds[:-1], bounds[1:])]
        else:
            for r in range(run, end):
                below = atoms[atoms < r]
                above = atoms[atoms > r]
                nearest = (below[-1] if len(below) and (not len(above) or
                           distinct[r] - distinct[below[-1]] <= distinct[above[0]] - distinct[r])
                           else above[0])
                groups.append([run_start[r], run_stop[r], ("snap", nearest)])
        run = end
    knots, weights, shared = {}, {}, {}
    for start, stop, kind in groups:
        if kind is True or isinstance(kind, tuple):
            value = distinct[kind[1]] if isinstance(kind, tuple) else values[start]
            key = ("atom", value)
            knots[key], shared[key] = value, True
        else:  # each patient weighs once: one patient's many values do not pull the mean
            run_values = values[start:stop]
            _, inverse = np.unique(patients[start:stop], return_inverse=True)
            means = np.bincount(inverse, weights=run_values) / np.bincount(inverse)
            key = ("pool", start)
            knots[key] = _off_the_values(means.mean(), run_values)
            shared[key] = run_values[0] == run_values[-1]
        weights[key] = weights.get(key, 0) + (stop - start)
    keys = sorted(knots, key=lambda k: knots[k])
    return (np.array([knots[k] for k in keys], dtype=np.float64),
            np.array([weights[k] for k in keys], dtype=np.float64) / values.size,
            np.array([shared[k] for k in keys], dtype=bool), values.size)


def _off_the_values(mean, group):
    """A pooled `mean` that happens to equal one of its group's values (the mean of 101, 102
    and 103 is 102, which one patient has) is moved halfway to the next value of the group:
    a number in a model file that equals a patient's value would read as that value."""
    distinct = np.unique(group)
    at = np.flatnonzero(np.abs(distinct - mean) <= 1e-6 * max(1.0, abs(mean)))
    if not len(at) or len(distinct) < 2:
        return mean
    i = at[0]
    neighbour = distinct[i + 1] if i + 1 < len(distinct) else distinct[i - 1]
    return (distinct[i] + neighbour) / 2


def _group_starts(run_start, run_size, patients, least, min_patients) -> np.ndarray:
    """Indices of the runs that open a group (see `pooled_knots`); the first run opens one."""
    run_of_value = np.repeat(np.arange(len(run_start)), run_size)
    pairs = np.unique(np.stack([run_of_value, patients]), axis=1)  # (run, patient), once each
    bounds = np.searchsorted(pairs[0], np.arange(len(run_start) + 1))
    starts, members, size = [0], set(), 0
    for run in range(len(run_start)):
        if size >= least and len(members) >= min_patients:
            starts.append(run)
            members, size = set(), 0
        members.update(pairs[1, bounds[run]:bounds[run + 1]].tolist())
        size += run_size[run]
    if len(members) < min_patients and len(starts) > 1:  # a short last group joins the one before
        starts.pop()
    return np.asarray(starts, dtype=np.int64)
