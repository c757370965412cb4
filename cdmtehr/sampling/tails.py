"""Tail calibration: a generator's normal scores mapped onto the normal tails of the data's.

Every numeric channel is encoded as normal scores: the training values' scores follow the
standard normal distribution (that is how the quantile transform is built), and decoding reads
a score as the level of the training values that the normal distribution gives it. A
diffusion model's generated scores have heavier tails than that (several times over beyond
three standard deviations), so decoding reaches the outer knots, the rare and often implausible
values of a few patients at either end of a column (a pH of 735 for 7.35, a blood pressure of
0), several times as often as the training data holds them.

`fit_tail_calibration` measures the tails of scores drawn from the fitted generator and
`calibrate_tails` maps generated scores beyond their 2 % and 98 % quantiles, quantile by
quantile, onto the normal quantiles of the same levels: a generated score that a share p of
the generated scores lies beyond becomes the score that a share p of the training values lies
beyond. The levels are read at 2 %, 1 %, 0.5 %, ... down to where 20 generated scores remain.
Further out, where the recording errors of a column lie (a pH of 735 is one value in 2,000),
the generated tail is taken as exponential, with the larger of the mean excesses of the
scores beyond the deepest level and beyond the level two before it: a score that a share
p exp(-t) of the generated scores would lie beyond goes to the normal quantile of that share
(a heavy tail is pulled in further the further out it goes, as a normal one thins). The
deepest level's excess follows a tail heavier than exponential; the other, from four times
as many scores, is steadier where the 20 beyond the deepest come from a few patients (a
mean excess too small by chance leaves the far tail too heavy). Beyond 32 mean excesses the
map goes on with the slope of its outer segment, or 1 where that is steeper (a tail is
never widened). Scores inside the 5 % and 95 % quantiles are left as they are, and the map
is linear in between, so that it is monotone and continuous and the bulk is untouched.
Where the generated scores are already too wide there (their 95 % quantile beyond the
normal one), the normal quantiles they go to are shifted out by that excess, so that the
map stays increasing, but the shift shrinks by half of each step outwards between normal
quantiles, and the far tail is the normal one: a shift kept all the way out leaves
exp(excess z) times the normal share beyond z (1.6 times beyond pH's plausible bound, for a
generator 0.13 too wide at the join).

A calibration drawn from 1,000 patients is itself a sample: at the levels of a few outliers
in 1,000 patients (a share of 1e-4 of a column's values) two such draws can differ by a
factor of two or more, as the scores there come from a few patients. `fit` draws up to
6,000, twice the patients it trained on at most: on PhysioNet 2012 (3,000 training
patients) a draw of 3,000 left heart rate's and urine's outliers at 1.5 and 1.9 times the
training share of patients and pulled the invasive diastolic pressure's in to 0.3 times,
where a draw of 6,000 brings every variable to at most 1.2 times and that pressure to 0.8
(docs/benchmarks.md, *Outliers and the tail calibration*).

Patients completed from known values (`impute`, `forecast`, `sample(given=...)`) are not
mapped: their known values must come back as they are.

A tail lighter than the normal one is left as it is: the map only pulls scores in, never
pushes one further out than the generator drew it.

The calibration reads only generated scores and the standard normal distribution: it keeps
no training value, and it is post-processing of the generator (a differentially private
model stays as private). It is measured at `sample`'s default settings (8 steps of
DPM-Solver++(2M)).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.special import ndtri

from .generation import generate_stays
from .samplers import DEFAULT_SAMPLER, DEFAULT_STEPS

# Generated scores inside their TAIL_JOIN and 1 - TAIL_JOIN quantiles are left as they are;
# beyond their TAIL_LEVEL and 1 - TAIL_LEVEL quantiles they are mapped onto the normal
# quantiles of the same levels (linear in between). The tail is read at levels
# TAIL_LEVEL * TAIL_STEP**k, as far out as TAIL_MIN_COUNT generated scores reach.
TAIL_JOIN = 0.05
TAIL_LEVEL = 0.02
TAIL_STEP = 0.5
TAIL_MIN_COUNT = 20
# Fewest generated scores of a channel to calibrate it: TAIL_MIN_COUNT down to the third
# level read (0.5 %), so that a calibration reaches beyond the bulk's edge.
MIN_SCORES = int(np.ceil(TAIL_MIN_COUNT / (TAIL_LEVEL * TAIL_STEP**2)))

# The draw `fit` makes: at most this many patients (and at most CALIBRATION_PER_PATIENT per
# patient it trained on), taking this share of `max_time` (training gets the rest), at
# `sample`'s default settings.
CALIBRATION_PATIENTS = 6000
CALIBRATION_PER_PATIENT = 2
CALIBRATION_SHARE = 0.1
CALIBRATION_STEPS = DEFAULT_STEPS
CALIBRATION_SAMPLER = DEFAULT_SAMPLER


def calibration_size(n_trained: int) -> int:
    """Patients `fit` draws to calibrate a model trained on `n_trained` patients (fewer when
    its share of `max_time` runs out first)."""
    return min(CALIBRATION_PATIENTS, CALIBRATION_PER_PATIENT * int(n_trained))


def tail_map(scores):
    """The calibration of one channel from its generated `scores` (NaN ignored).

    Returns
    -------
    ndarray of shape (2, m) or None
        The points (from, to) of the increasing piecewise-linear map (`apply_tail_map`);
        None when there are fewer than `MIN_SCORES` finite scores or no increasing map.
    """
    z = np.asarray(scores, dtype="float64").reshape(-1)
    z = np.sort(z[np.isfinite(z)])
    if z.size < MIN_SCORES:
        return None
    levels = [TAIL_LEVEL]
    while levels[-1] * TAIL_STEP * z.size >= TAIL_MIN_COUNT:
        levels.append(levels[-1] * TAIL_STEP)
    levels = np.r_[TAIL_JOIN, levels]
    low = np.quantile(z, levels, method="inverted_cdf")
    high = np.quantile(z, 1 - levels, method="inverted_cdf")
    # The generated quantile of each level goes to the normal quantile of that level; at the
    # join it stays where it is, so that the map is continuous and the bulk untouched.
    # Beyond the deepest level read, the generated tail is taken as exponential, with the
    # larger of the mean excesses of the scores beyond it and beyond the level two before it
    # (four times as many scores): a score that a share p exp(-t) lies beyond goes to the
    # normal quantile of that share. Distances and quantiles are counted outwards (the lower
    # tail mirrored).
    normal, read = -ndtri(levels[1:]), (-1, len(levels) - 3)
    high, high_to = _outwards(high, normal, [z[z > high[i]] - high[i] for i in read], levels[-1])
    low, low_to = _outwards(-low, normal, [low[i] - z[z < low[i]] for i in read], levels[-1])
    start, stop = _increasing(-low[::-1], -low_to[::-1]), _increasing(high, high_to)
    if start is None or stop is None or not start[0][-1] < stop[0][0]:
        return None
    start, stop = _thinning(*start, upper=False), _thinning(*stop, upper=True)
    return np.vstack([np.r_[start[0], stop[0]], np.r_[start[1], stop[1]]])


def apply_tail_map(points, z):
    """Scores `z` through a channel's map (`tail_map`); the identity when `points` is None."""
    z = np.asarray(z, dtype="float64")
    if points is None:
        return z
    x, y = points
    out = np.interp(z, x, y)
    # Beyond the outer points: the outer segment's slope, at most 1 (no tail is widened
    # further out than where it was measured).
    first = min(1.0, (y[1] - y[0]) / (x[1] - x[0]))
    last = min(1.0, (y[-1] - y[-2]) / (x[-1] - x[-2]))
    with np.errstate(invalid="ignore"):
        out = np.where(z < x[0], y[0] + (z - x[0]) * first, out)
        out = np.where(z > x[-1], y[-1] + (z - x[-1]) * last, out)
    return np.where(np.isnan(z), z, out)


def fit_tail_calibration(chunks) -> dict:
    """The calibration of every numeric channel from generated chunks.

    Parameters
    ----------
    chunks : iterable of dict
        `generate`'s arrays: "numeric" (B, T, K), "observed" (B, T, K), "lengths" (B,),
        "static_numeric" (B, S), "static_observed" (B, S).

    Returns
    -------
    dict
        "numeric" and "static_numeric": a list with one `tail_map` (or None) per channel,
        read from the observed cells of the valid time steps.
    """
    temporal, static = [], []
    for arrays in chunks:
        steps = np.arange(arrays["numeric"].shape[1])
        valid = steps[None, :] < np.asarray(arrays["lengths"])[:, None]
        seen = np.asarray(arrays["observed"], dtype=bool) & valid[:, :, None]
        numeric = np.asarray(arrays["numeric"], dtype="float64")
        temporal.append([numeric[:, :, k][seen[:, :, k]] for k in range(numeric.shape[2])])
        static_numeric = np.asarray(arrays["static_numeric"], dtype="float64")
        static_seen = np.asarray(arrays["static_observed"], dtype=bool)
        static.append([static_numeric[:, j][static_seen[:, j]]
                       for j in range(static_numeric.shape[1])])
    return {
        "numeric": [tail_map(np.concatenate(c)) for c in zip(*temporal)],
        "static_numeric": [tail_map(np.concatenate(c)) for c in zip(*static)],
    }


def calibrate_tails(calibration, arrays: dict) -> dict:
    """`arrays` of one generated chunk with its numeric scores through `calibration`.

    Parameters
    ----------
    calibration : dict or None
        From `fit_tail_calibration`; None leaves `arrays` as they are.
    arrays : dict
        `generate`'s arrays of a chunk.

    Returns
    -------
    dict
        A new dict: "numeric" and "static_numeric" mapped channel by channel, in their dtype.
    """
    if calibration is None:
        return arrays
    out = dict(arrays)
    for key in ("numeric", "static_numeric"):
        maps = calibration.get(key) or []
        values = np.array(arrays[key], copy=True)
        for k, points in enumerate(maps[: values.shape[-1]]):
            if points is not None:
                values[..., k] = apply_tail_map(points, values[..., k])
        out[key] = values
    return out


def worth_drawing(cohort, n_patients: int) -> bool:
    """Whether `n_patients` drawn like the patients of `cohort` (an `EncodedCohort`) would
    give some channel `MIN_SCORES` measured scores: otherwise a draw calibrates nothing."""
    valid = cohort.length_mask()[:, :, None]
    counts = np.r_[(cohort.observed & valid).sum(axis=(0, 1)), cohort.static_observed.sum(axis=0)]
    return bool(counts.size) and counts.max() * n_patients >= MIN_SCORES * cohort.n_patients


def draw_tail_calibration(denoiser, schedule, class_prior, profile_model, *, n_patients: int,
                          batch_size: int, device, seed: int,
                          seconds: float | None = None) -> dict:
    """`fit_tail_calibration` of patients drawn from a fitted model (`generate_stays`).

    Draws up to `n_patients` (classes from `class_prior`; with `profile_model`, profiles from
    the first stage) at `CALIBRATION_STEPS` steps of `CALIBRATION_SAMPLER`, a chunk of
    `batch_size` at a time, stopping after the chunk that spends `seconds` (None: no limit).
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    prior = np.asarray(class_prior, dtype="float64")
    classes = (rng.choice(prior.size, size=n_patients, p=prior / prior.sum())
               if prior.size and prior.sum() > 0 else np.zeros(n_patients, dtype=np.int64))
    generator = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))

    def chunks():
        for arrays in generate_stays(denoiser, schedule, profile_model, classes,
                                     generator=generator, steps=CALIBRATION_STEPS,
                                     sampler=CALIBRATION_SAMPLER,
                                     batch_size=batch_size, device=device):
            yield arrays
            if seconds is not None and time.perf_counter() - started >= seconds:
                return

    return fit_tail_calibration(chunks())


def is_tail_calibration(value) -> bool:
    """Whether `value` is None or what `fit_tail_calibration` returns: for each of "numeric"
    and "static_numeric" a list of None or (2, m) arrays of finite, strictly increasing
    points (a model file's check)."""
    if value is None:
        return True
    if not isinstance(value, dict) or set(value) != {"numeric", "static_numeric"}:
        return False
    for maps in value.values():
        if not isinstance(maps, list):
            return False
        for points in maps:
            if points is None:
                continue
            if not (isinstance(points, np.ndarray) and points.dtype.kind == "f"
                    and points.ndim == 2 and points.shape[0] == 2 and points.shape[1] >= 2
                    and np.all(np.isfinite(points)) and np.all(np.diff(points, axis=1) > 0)):
                return False
    return True


# Steps beyond the deepest level read, in mean excesses of the generated tail (`tail_map`).
_EXTENSION = np.array([0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32], dtype="float64")


def _exponential_tail(excesses, level):
    """(score steps, normal score steps) beyond the deepest point of a tail, whose level is
    `level`, for an exponential tail with the larger mean of `excesses` (those of the scores
    beyond that point and beyond a shallower one); empty when they have no spread."""
    scale = max((float(np.mean(e)) for e in excesses if e.size), default=0.0)
    if not scale > 0 or not np.isfinite(scale):
        return np.empty(0), np.empty(0)
    return scale * _EXTENSION, ndtri(level) - ndtri(level * np.exp(-_EXTENSION))


def _outwards(edges, normal, excesses, level):
    """The points (from, to) of one tail, counted outwards from the centre: from the
    generated quantiles `edges` (the join's, then those of the levels read) to the join and
    the `normal` quantiles of the levels, then on along an exponential tail beyond the
    deepest `level` (`_exponential_tail` of `excesses`); shifted out as far as the join is
    too wide."""
    far = _exponential_tail(excesses, level)
    x = np.r_[edges, edges[-1] + far[0]]
    quantiles = np.r_[normal, normal[-1] + far[1]]
    return x, np.r_[edges[0], quantiles + _join_excess(edges[0], quantiles)]


def _join_excess(edge, quantiles):
    """How far out the normal `quantiles` (upper tail, increasing) of the levels read are
    shifted when the generated scores are too wide at the join, their quantile there at
    `edge` beyond the normal one: by the excess at the join, shrinking by half the distance
    from the join's normal quantile, so that the map stays increasing, and none once that
    distance is twice the excess. The tail beyond is the normal one: a shift kept all the
    way out would leave a share exp(excess z) of the normal one beyond z."""
    join = -ndtri(TAIL_JOIN)
    return np.maximum(0.0, (edge - join) - (quantiles - join) / 2)


def _thinning(x, y, upper):
    """The points of the map through (x, y) where it pulls scores in, and of the identity
    where it would push them out (a tail lighter than the normal one is left as it is): the
    smaller of the two for the upper tail, the larger for the lower one, with a point where
    they cross."""
    out = (y - x) if upper else (x - y)  # > 0 where the map would push a score out
    xs, ys = [x[0]], [x[0] if out[0] > 0 else y[0]]
    for i in range(1, x.size):
        if out[i - 1] * out[i] < 0:
            cross = x[i - 1] + out[i - 1] / (out[i - 1] - out[i]) * (x[i] - x[i - 1])
            xs.append(cross)
            ys.append(cross)
        xs.append(x[i])
        ys.append(x[i] if out[i] > 0 else y[i])
    return np.array(xs), np.array(ys)


def _increasing(x, y):
    """The points (x, y) of non-decreasing x without repeated x (a score the generator drew
    many times; the first point is kept), or None when fewer than two remain."""
    keep = np.r_[True, np.diff(x) > 0]
    x, y = x[keep], y[keep]
    return (x, y) if x.size >= 2 else None
