"""Fidelity: how closely the synthetic marginals, missingness, correlations and dynamics match."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ks_wasserstein(a, b):
    """Two-sample Kolmogorov-Smirnov statistic and Wasserstein-1 distance.

    Parameters
    ----------
    a, b : ndarray of shape (n,) and (m,)
        Observed values (no NaN), both non-empty.

    Returns
    -------
    ks : float
        ``sup_x |F_a(x) - F_b(x)|``.
    w1 : float
        ``integral |F_a(x) - F_b(x)| dx`` (in the units of the data).

    Notes
    -----
    Both read the two empirical CDFs on the merged sorted sample; the CDFs are step functions,
    so the integral is an exact sum over the gaps (see docs/report.md).
    """
    a, b = np.sort(a), np.sort(b)
    grid = np.sort(np.concatenate([a, b]))
    gap = np.abs(
        np.searchsorted(a, grid, side="right") / a.size
        - np.searchsorted(b, grid, side="right") / b.size
    )
    return float(gap.max()), float(np.sum(gap[:-1] * np.diff(grid)))


def total_variation(a, b, levels):
    """Total variation ``1/2 sum_c |p_a(c) - p_b(c)|`` between two categorical samples.

    Missing values count as a level of their own (see docs/report.md).
    """

    def shares(series):
        codes = pd.Categorical(series, categories=list(levels)).codes
        codes = np.where(codes < 0, len(levels), codes)
        return np.bincount(codes, minlength=len(levels) + 1) / max(len(codes), 1)

    return float(0.5 * np.abs(shares(a) - shares(b)).sum())


def autocorrelation(values, valid, max_lag):
    """Pooled autocorrelation at lags 1..L of per-patient standardized, forward-filled series.

    Parameters
    ----------
    values : ndarray of shape (N, T, K)
        NaN where missing.
    valid : ndarray of shape (N, T), bool
        True within the stay.
    max_lag : int
        L.

    Returns
    -------
    ndarray of shape (L, K)
        ``r_k(l) = sum z_t z_{t+l} / #pairs`` over all patients, where ``z`` is the patient's
        series forward-filled (from its first measurement on) and standardized by its own mean
        and standard deviation. A series without variation contributes zero correlation, so a
        generator that outputs constants scores 0, not undefined. NaN where a variable has no
        pair at that lag.

    Notes
    -----
    Our construction: forward filling makes sparse labs step
    functions, which is how they are read clinically; the same filling applies to both
    cohorts, so differences reflect the data.
    """
    n, t, k = values.shape
    observed = ~np.isnan(values) & valid[:, :, None]
    # Forward fill along time: the index of the latest observation at or before each step.
    last = np.where(observed, np.arange(t)[None, :, None], -1)
    last = np.maximum.accumulate(last, axis=1)
    measured = np.where(observed, values, 0.0)
    filled = np.take_along_axis(measured, np.maximum(last, 0), axis=1)
    defined = (last >= 0) & valid[:, :, None]
    count = defined.sum(axis=1, keepdims=True)
    mean = np.where(defined, filled, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
    centred = np.where(defined, filled - mean, 0.0)
    std = np.sqrt((centred**2).sum(axis=1, keepdims=True) / np.maximum(count, 1))
    z = np.divide(centred, std, out=np.zeros_like(centred), where=std > 1e-12 * (np.abs(mean) + 1))
    acf = np.full((max_lag, k), np.nan)
    for lag in range(1, min(max_lag, t - 1) + 1):
        pairs = defined[:, lag:] & defined[:, :-lag]
        n_pairs = pairs.sum(axis=(0, 1))
        products = np.where(pairs, z[:, lag:] * z[:, :-lag], 0.0).sum(axis=(0, 1))
        acf[lag - 1] = np.where(n_pairs > 0, products / np.maximum(n_pairs, 1), np.nan)
    return acf


def observed_share_over_time(values, codes, valid, n_levels):
    """Share of the patients still in their stay at each step whose value is measured.

    Parameters
    ----------
    values : ndarray of shape (N, T, Kn)
    codes : ndarray of shape (N, T, Kc)
    valid : ndarray of shape (N, T), bool
    n_levels : sequence of int
        Number of levels of each categorical column; that code means missing.

    Returns
    -------
    ndarray of shape (T, Kn + Kc)
        NaN at steps no patient reaches.
    """
    measured = (codes >= 0) & (codes != np.asarray(n_levels, dtype=np.int64))
    observed = np.concatenate([~np.isnan(values), measured], axis=2) & valid[:, :, None]
    at_risk = valid.sum(axis=0)[:, None]
    return np.where(at_risk > 0, observed.sum(axis=0) / np.maximum(at_risk, 1), np.nan)


def correlation_matrix(summary, cols, method="spearman"):
    """Correlations of per-patient values, pairwise over the patients measuring both."""
    return summary[list(cols)].corr(method=method, min_periods=2)


def _pair_counts(summary, cols):
    """Count the patients in which both columns of each pair are present."""
    present = summary[list(cols)].notna().to_numpy(np.float64)
    return present.T @ present


def _numeric_rows(columns, real_values, synthetic_values, kind):
    """Per-variable rows (missingness, KS, W1, means) for numeric columns."""
    rows = []
    for col in columns:
        a, b = real_values[col], synthetic_values[col]
        obs_a, obs_b = a.dropna().to_numpy("float64"), b.dropna().to_numpy("float64")
        row = {
            "variable": col,
            "kind": kind,
            "missing_real": float(a.isna().mean()),
            "missing_synthetic": float(b.isna().mean()),
            "mean_real": float(obs_a.mean()) if obs_a.size else np.nan,
            "mean_synthetic": float(obs_b.mean()) if obs_b.size else np.nan,
            "ks": np.nan,
            "w1": np.nan,
        }
        if obs_a.size and obs_b.size:
            ks, w1 = ks_wasserstein(obs_a, obs_b)
            scale = obs_a.std()
            row.update(ks=ks, w1=w1 / scale if scale > 0 else w1)
        elif obs_a.size:
            row["ks"] = 1.0  # the generator never produces a variable the data has
        rows.append(row)
    return rows


def _categorical_rows(columns, real_values, synthetic_values, categories, kind):
    """Per-variable rows (missingness, total variation) for categorical columns."""
    return [
        {
            "variable": col,
            "kind": kind,
            "missing_real": float(real_values[col].isna().mean()),
            "missing_synthetic": float(synthetic_values[col].isna().mean()),
            "tv": total_variation(real_values[col], synthetic_values[col], categories[col]),
        }
        for col in columns
    ]


def fidelity_scores(real, synthetic, *, max_lag=5, min_pairs=50, correlation="spearman"):
    """Distributional fidelity of a synthetic cohort (definitions in docs/report.md).

    Parameters
    ----------
    real, synthetic : Cohort
    max_lag : int, default=5
        Largest lag of the autocorrelation comparison.
    correlation : {"spearman", "pearson"}, default="spearman"
        Correlation coefficient of ``corr_diff``. Spearman's rank correlation is the default
        because raw ICU data holds implausible values: in PhysioNet 2012 one patient's mean
        arterial pressure of 258 mmHg turns the Pearson correlation of MAP and systolic
        pressure from 0.73 into 0.05 in one random half of the data and not in the other.
    min_pairs : int, default=50
        A correlation enters the comparison only when this many real patients measure both
        variables; rarer pairs are noise. ``corr_diff`` is the mean absolute difference over
        the remaining pairs, each weighted by that number of patients.

    Returns
    -------
    scores : dict of str to float
    per_variable : DataFrame
        One row per evaluated column.
    details : dict
        Arrays the report plots: ``corr_real``, ``corr_synthetic`` (DataFrames),
        ``corr_reliable`` (bool array: pairs with at least `min_pairs` real patients),
        ``corr_pairs_real``, ``corr_pairs_synthetic`` (patients measuring both variables of
        each pair), ``corr_min_pairs``,
        ``observed_real``, ``observed_synthetic`` (T x K arrays), ``acf_real``,
        ``acf_synthetic`` (L x Kn arrays).
    """
    roles, levels = real.roles, real.categories
    scores = {}
    rows = _numeric_rows(roles.temporal_num_cols, real.frame, synthetic.frame, "temporal numeric")
    rows += _categorical_rows(
        roles.temporal_cat_cols, real.frame, synthetic.frame, levels, "temporal categorical"
    )
    rows += _numeric_rows(roles.static_num_cols, real.static, synthetic.static, "static numeric")
    rows += _categorical_rows(
        roles.static_cat_cols, real.static, synthetic.static, levels, "static categorical"
    )
    table = pd.DataFrame(
        rows,
        columns=[
            "variable",
            "kind",
            "missing_real",
            "missing_synthetic",
            "missing_diff",
            "mean_real",
            "mean_synthetic",
            "ks",
            "w1",
            "autocorr_diff",
            "tv",
        ],
    ).set_index("variable")
    table["missing_diff"] = (table["missing_real"] - table["missing_synthetic"]).abs()

    # Temporal structure on a common grid: the real stays' longest length.
    max_length = int(real.lengths.max())
    n_levels = [len(real.categories[c]) for c in roles.temporal_cat_cols]
    seq_real, seq_syn = real.sequences(max_length), synthetic.sequences(max_length)
    observed_real = observed_share_over_time(*seq_real, n_levels)
    observed_syn = observed_share_over_time(*seq_syn, n_levels)
    acf_real = autocorrelation(seq_real[0], seq_real[2], max_lag)
    acf_syn = autocorrelation(seq_syn[0], seq_syn[2], max_lag)
    if roles.temporal_num_cols:
        # A variable the generator never varies has zero autocorrelation, not none.
        acf_gap = np.abs(acf_real - np.nan_to_num(acf_syn))
        defined = ~np.isnan(acf_real)
        n_defined = defined.sum(axis=0)
        per_var = np.divide(
            np.where(defined, acf_gap, 0.0).sum(axis=0),
            n_defined,
            out=np.full(n_defined.shape, np.nan),
            where=n_defined > 0,
        )
        table.loc[list(roles.temporal_num_cols), "autocorr_diff"] = per_var

    corr_cols = [f"{c}__mean" for c in roles.temporal_num_cols] + list(roles.static_num_cols)
    names = list(roles.temporal_num_cols) + list(roles.static_num_cols)
    corr_real = correlation_matrix(real.summary, corr_cols, correlation)
    corr_syn = correlation_matrix(synthetic.summary, corr_cols, correlation)
    corr_real.index = corr_real.columns = corr_syn.index = corr_syn.columns = names
    counts = _pair_counts(real.summary, corr_cols)
    if len(names) > 1:
        upper = np.triu(np.ones((len(names), len(names)), dtype=bool), k=1)
        upper &= (counts >= min_pairs) & ~np.isnan(corr_real.to_numpy())
        # An undefined synthetic correlation (a variable that never varies) counts as 0.
        gap = np.abs(corr_real.to_numpy() - np.nan_to_num(corr_syn.to_numpy()))[upper]
        if gap.size:
            # Pairs weigh by how many real patients measure both: their real correlation is
            # the better known, and rare lab pairs would otherwise drown the score in noise.
            scores["corr_diff"] = float(np.average(gap, weights=counts[upper]))

    numeric = table[table["kind"] == "temporal numeric"]
    if len(numeric):
        scores["ks_mean"] = float(np.nanmean(numeric["ks"]))
        scores["w1_mean"] = float(np.nanmean(numeric["w1"]))
        if numeric["autocorr_diff"].notna().any():
            scores["autocorr_diff"] = float(np.nanmean(numeric["autocorr_diff"]))
    scores["missing_rate_diff"] = float(table["missing_diff"].mean())
    if roles.temporal_num_cols or roles.temporal_cat_cols:
        gap = np.abs(observed_real - observed_syn)
        if np.isfinite(gap).any():
            scores["missing_time_diff"] = float(np.nanmean(gap))
    scores["length_ks"] = ks_wasserstein(real.lengths, synthetic.lengths)[0]
    for kind, key, col in (
        ("temporal categorical", "cat_tv_mean", "tv"),
        ("static numeric", "static_ks_mean", "ks"),
        ("static categorical", "static_tv_mean", "tv"),
    ):
        part = table.loc[table["kind"] == kind, col]
        if part.notna().any():
            scores[key] = float(np.nanmean(part))
    if roles.condition_col is not None:
        col = roles.condition_col
        scores["condition_tv"] = total_variation(
            real.static[col], synthetic.static[col], real.categories[col]
        )
    details = {
        "corr_real": corr_real,
        "corr_synthetic": corr_syn,
        "corr_reliable": counts >= min_pairs,
        "corr_pairs_real": counts,
        "corr_pairs_synthetic": _pair_counts(synthetic.summary, corr_cols),
        "corr_min_pairs": min_pairs,
        "observed_real": observed_real,
        "observed_synthetic": observed_syn,
        "acf_real": acf_real,
        "acf_synthetic": acf_syn,
    }
    return scores, table, details
