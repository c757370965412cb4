"""Fidelity statistics against references: scipy's KS and W1, a loop autocorrelation."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cdmtehr.evaluation.fidelity import autocorrelation, ks_wasserstein, total_variation


def test_ks_wasserstein_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.gamma(2.0, size=300)
    ks, w1 = ks_wasserstein(a, b)
    assert ks == pytest.approx(stats.ks_2samp(a, b).statistic)
    assert w1 == pytest.approx(stats.wasserstein_distance(a, b))


def test_total_variation_counts_missing_as_a_level():
    a = pd.Series(["x", "x", None, "y"])
    assert total_variation(a, a, ("x", "y")) == 0.0
    assert total_variation(a, pd.Series([None] * 4), ("x", "y")) == pytest.approx(0.75)


def _autocorrelation_by_loops(values, valid, max_lag):
    """Reference: the documented estimator written one patient and variable at a time."""
    n, _, k = values.shape
    products, pairs = np.zeros((max_lag, k)), np.zeros((max_lag, k))
    for i in range(n):
        for j in range(k):
            series = pd.Series(values[i, valid[i], j]).ffill().to_numpy()
            defined = ~np.isnan(series)
            if not defined.any():
                continue
            kept = series[defined]
            sd = kept.std()
            z = np.where(defined, (series - kept.mean()) / sd if sd > 0 else 0.0, np.nan)
            for lag in range(1, max_lag + 1):
                both = ~np.isnan(z[lag:]) & ~np.isnan(z[:-lag])
                products[lag - 1, j] += np.sum((z[lag:] * z[:-lag])[both])
                pairs[lag - 1, j] += both.sum()
    return products / pairs


def test_autocorrelation_matches_a_loop_reference_with_gaps_and_lengths():
    rng = np.random.default_rng(0)
    n, t = 25, 12
    values = np.cumsum(rng.normal(size=(n, t, 3)), axis=1)
    values[rng.random(values.shape) < 0.4] = np.nan
    valid = np.arange(t)[None, :] < rng.integers(3, t + 1, n)[:, None]
    expected = _autocorrelation_by_loops(values, valid, max_lag=3)
    np.testing.assert_allclose(autocorrelation(values, valid, max_lag=3), expected, atol=1e-9)


def test_autocorrelation_of_ar1_and_of_constants():
    rng = np.random.default_rng(0)
    n, t, phi = 400, 48, 0.8
    x = np.zeros((n, t))
    x[:, 0] = rng.normal(size=n)
    for step in range(1, t):
        x[:, step] = phi * x[:, step - 1] + np.sqrt(1 - phi**2) * rng.normal(size=n)
    values = np.stack([x, np.full((n, t), 5.0)], axis=2)
    acf = autocorrelation(values, np.ones((n, t), dtype=bool), max_lag=3)
    # Centring each 48-step series on its own mean lowers the estimate a little.
    assert acf[0, 0] == pytest.approx(phi, abs=0.1)
    assert acf[0, 0] > acf[1, 0] > acf[2, 0] > 0.2
    assert np.all(acf[:, 1] == 0.0)
