"""The schedule of care: which variables are measured together, how often, and how they move."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._frames import category_levels, resolve_roles, subsample_patients
from .features import Cohort
from .fidelity import ks_wasserstein

# Gaps longer than this many hours share the last bin of the gap counts.
LONGEST_GAP_BIN = 24


@dataclass
class CareStatistics:
    """How a real and a synthetic cohort schedule their measurements.

    Attributes
    ----------
    summary : dict of str to float
        Scalars, keyed as the ``care_*`` scores of :func:`evaluate` (their meaning is in
        ``cdmtehr.evaluation.METRICS``).
    per_variable : DataFrame
        One row per temporal numeric column: ``gap_ks`` (KS distance between the gaps, in
        hours, between consecutive measurements), ``first_hour_real`` /
        ``first_hour_synthetic`` (mean time step of the first measurement, over the patients
        measured at all), ``repeat_real`` / ``repeat_synthetic`` (share of gaps of exactly one
        hour), ``autocorr_real`` / ``autocorr_synthetic`` (lag-1 rank autocorrelation of
        consecutive measurements) and ``step_real`` / ``step_synthetic`` (median absolute
        change between consecutive measurements, in the variable's units). NaN where a side
        has too few measurements.
    gap_counts : DataFrame
        Number of gaps of 1, 2, ... hours, pooled over the variables (index: the gap; the
        last row counts every gap of at least ``LONGEST_GAP_BIN`` hours), columns ``real``
        and ``synthetic``.
    """

    summary: dict
    per_variable: pd.DataFrame
    gap_counts: pd.DataFrame


def _measured_pairs(cohort, column):
    """Consecutive measurements of one column within patients: gaps and value pairs."""
    values = cohort.frame[column].to_numpy("float64")
    rows = np.flatnonzero(~np.isnan(values))
    patient, hour, value = cohort.patient_index[rows], cohort.position[rows], values[rows]
    # Rows are sorted by patient, then time: neighbours of the same patient are successive
    # measurements, and the first row of each patient is its first measurement.
    same = patient[1:] == patient[:-1]
    first = np.r_[True, ~same] if rows.size else np.zeros(0, bool)
    return {
        "gaps": (hour[1:] - hour[:-1])[same],
        "pairs": (value[:-1][same], value[1:][same]),
        "first_hours": hour[first],
    }


def _lag1_autocorrelation(before, after):
    """Spearman correlation of consecutive measurements, NaN below 3 pairs or without spread.

    Ranks, because one implausible value (a pH of 735 among 7.35s) decides a Pearson
    correlation on its own.
    """
    if before.size < 3 or np.ptp(before) == 0 or np.ptp(after) == 0:
        return np.nan
    return float(pd.Series(before).corr(pd.Series(after), method="spearman"))


def _patterns(cohort):
    """Co-measurement pattern of every hour: the set of measured numeric columns, as bytes."""
    measured = cohort.frame[list(cohort.roles.temporal_num_cols)].notna().to_numpy()
    packed = np.packbits(measured, axis=1)
    return pd.Series([row.tobytes() for row in packed]), measured.any(axis=1)


def _per_cohort(cohort):
    """Every statistic of one cohort, per variable and pooled."""
    rows = {}
    all_gaps = []
    for column in cohort.roles.temporal_num_cols:
        found = _measured_pairs(cohort, column)
        gaps, (before, after) = found["gaps"], found["pairs"]
        all_gaps.append(gaps)
        rows[column] = {
            "gaps": gaps,
            "first_hour": found["first_hours"].mean() if found["first_hours"].size else np.nan,
            "repeat": np.mean(gaps == 1) if gaps.size else np.nan,
            "autocorr": _lag1_autocorrelation(before, after),
            "step": np.median(np.abs(after - before)) if before.size else np.nan,
        }
    patterns, non_empty = _patterns(cohort)
    gaps = np.concatenate(all_gaps) if all_gaps else np.zeros(0, np.int64)
    return {
        "variables": rows,
        "gaps": gaps,
        "patterns": patterns[non_empty],
        "empty_share": float(1.0 - non_empty.mean()) if non_empty.size else np.nan,
    }


def _ratio(numerator, denominator):
    """numerator / denominator, NaN when the denominator is 0."""
    return float(numerator / denominator) if denominator else np.nan


def _mean_or_nan(values):
    """Mean of the finite values, NaN (without a warning) when there is none."""
    values = np.asarray(values, dtype="float64")
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def care_tables(real, synthetic):
    """Compare the schedules of care of two prepared cohorts (see :func:`care_statistics`).

    Parameters
    ----------
    real, synthetic : Cohort
        Cohorts of the same roles, ideally of equal numbers of patients: the count of
        patterns grows with the number of hours read.

    Returns
    -------
    CareStatistics
    """
    sides = {"real": _per_cohort(real), "synthetic": _per_cohort(synthetic)}
    table = []
    for column in real.roles.temporal_num_cols:
        a, b = sides["real"]["variables"][column], sides["synthetic"]["variables"][column]
        both = a["gaps"].size and b["gaps"].size
        gap_ks = ks_wasserstein(a["gaps"], b["gaps"])[0] if both else np.nan
        row = {"variable": column, "gap_ks": gap_ks}
        for stat in ("first_hour", "repeat", "autocorr", "step"):
            row[f"{stat}_real"], row[f"{stat}_synthetic"] = a[stat], b[stat]
        table.append(row)
    columns = ["gap_ks"] + [
        f"{stat}_{side}"
        for stat in ("first_hour", "repeat", "autocorr", "step")
        for side in ("real", "synthetic")
    ]
    per_variable = pd.DataFrame(table, columns=["variable", *columns]).set_index("variable")
    per_variable = per_variable.astype("float64")

    real_patterns, syn_patterns = sides["real"]["patterns"], sides["synthetic"]["patterns"]
    n_real, n_syn = real_patterns.nunique(), syn_patterns.nunique()
    unseen = ~syn_patterns.isin(set(real_patterns)) if len(syn_patterns) else pd.Series([], bool)
    repeat = {
        side: float(np.mean(found["gaps"] == 1)) if found["gaps"].size else np.nan
        for side, found in sides.items()
    }
    empty = {side: found["empty_share"] for side, found in sides.items()}
    summary = {
        "care_patterns_real": float(n_real),
        "care_patterns_synthetic": float(n_syn),
        "care_patterns_ratio": _ratio(n_syn, n_real),
        "care_unseen_pattern_share": float(unseen.mean()) if len(unseen) else np.nan,
        "care_gap_ks_median": float(per_variable["gap_ks"].median()),
        "care_first_hour_diff_mean": _mean_or_nan(
            (per_variable["first_hour_synthetic"] - per_variable["first_hour_real"]).abs()
        ),
        "care_repeat_real": repeat["real"],
        "care_repeat_synthetic": repeat["synthetic"],
        "care_repeat_ratio": _ratio(repeat["synthetic"], repeat["real"]),
        "care_empty_hours_real": empty["real"],
        "care_empty_hours_synthetic": empty["synthetic"],
        "care_empty_hours_diff": float(empty["synthetic"] - empty["real"]),
        "care_autocorr_diff_mean": _mean_or_nan(
            (per_variable["autocorr_synthetic"] - per_variable["autocorr_real"]).abs()
        ),
    }
    bins = np.arange(1, LONGEST_GAP_BIN + 1)
    gap_counts = pd.DataFrame(
        {
            side: np.bincount(np.clip(found["gaps"], 1, LONGEST_GAP_BIN) - 1, minlength=len(bins))
            for side, found in sides.items()
        },
        index=pd.Index(bins, name="gap_hours"),
    )
    return CareStatistics(summary=summary, per_variable=per_variable, gap_counts=gap_counts)


def equal_sizes(real, synthetic, rng):
    """Cut the larger of two cohorts to the size of the smaller by a random draw of patients."""
    n = min(real.n_patients, synthetic.n_patients)
    cut = []
    for cohort in (real, synthetic):
        if cohort.n_patients == n:
            cut.append(cohort)
            continue
        keep = cohort.ids[np.sort(rng.choice(cohort.n_patients, size=n, replace=False))]
        frame = cohort.frame[cohort.frame[cohort.roles.id_col].isin(keep)]
        cut.append(Cohort(frame.reset_index(drop=True), cohort.roles, cohort.categories))
    return cut


def care_statistics(real, synthetic, *, id_col, time_col, num_cols=None, random_state=0):
    """Compare when a real and a synthetic cohort measure their variables.

    A generator can get every value right and still measure like no hospital does: vital
    signs and labs taken in combinations never seen, every hour where the real data has one
    measurement a day, hours without any measurement. These statistics describe the schedule
    of care (the observation masks) and the step-to-step movement of the measured values.

    Parameters
    ----------
    real, synthetic : DataFrame
        Long frames, one row per (patient, time step); the k-th row of a patient is its hour
        k, as in :func:`evaluate`.
    id_col, time_col : str
        Patient identifier and time column.
    num_cols : list of str, optional
        Time-varying numeric columns; None takes the numeric columns of `real` that vary
        within some patient (as :func:`evaluate` does).
    random_state : int or None, default=0
        Seeds the draw that cuts the larger cohort to the size of the smaller one (the
        number of distinct patterns grows with the number of hours read).

    Returns
    -------
    CareStatistics
        ``summary`` (dict of scalars), ``per_variable`` (DataFrame) and ``gap_counts``.

    Raises
    ------
    InvalidDataError
        If a named column is absent or a numeric column does not hold numbers.

    Notes
    -----
    Definitions, per cohort:

    - a *co-measurement pattern* is the set of numeric columns measured in one hour; the
      patterns are counted over the hours with at least one measurement, and
      ``care_unseen_pattern_share`` is the share of those synthetic hours whose pattern no
      real hour has;
    - a *gap* is the number of hours between two consecutive measurements of one variable
      within a patient; a gap of exactly one hour is a *one-hour repeat*;
    - an *empty hour* is a row where no numeric column is measured;
    - the *lag-1 autocorrelation* is the Spearman (rank) correlation between each measured
      value and the patient's next measured value of that variable, the pairs of all
      patients pooled (pairs never cross patients); the *step* is the absolute difference of
      such a pair.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"id": [1] * 4 + [2] * 4, "t": list(range(4)) * 2,
    ...                       "hr": [80.0, None, 82.0, 81.0] * 2})
    >>> stats = care_statistics(frame, frame, id_col="id", time_col="t")
    >>> stats.per_variable.loc["hr", "repeat_real"]
    np.float64(0.5)
    """
    frames = {"real": real, "synthetic": synthetic}
    roles = resolve_roles(
        frames,
        id_col=id_col,
        time_col=time_col,
        num_cols=num_cols,
        min_patients=1,
    )
    categories = category_levels(frames.values(), roles)
    cohorts = [
        Cohort(subsample_patients(frame, roles, None, None), roles, categories)
        for frame in frames.values()
    ]
    rng = np.random.default_rng(random_state)
    return care_tables(*equal_sizes(*cohorts, rng))
