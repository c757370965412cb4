"""Observation masks with a repeat level: which measurements copy the one before (numpy only).

Charted values are often copied forward (a weight charted thirty times, a Glasgow coma score or
FiO2 held for hours), which continuous values never reproduce exactly. The masks of channels
that mostly repeat get a third level, "measured, and equal to the stay's previous
measurement", and a value generated at that level is decoded as an exact copy.
"""

from __future__ import annotations

import numpy as np

from .._blocks import patient_blocks

# A channel whose measurements mostly repeat the one before is charted and held (a weight, a
# ventilator's FiO2, a coma score); elsewhere an exact repeat is a coincidence of the recorded
# precision, which rounding the decoded values already reproduces.
REPEAT_MIN_SHARE = 0.5
# The mask levels: 0 missing, 1 measured, 2 measured and equal to the stay's previous value.
REPEATED_LEVEL = 2


def repeated_measurements(values, observed) -> np.ndarray:
    """Cells that repeat the stay's previous measurement of their channel exactly.

    Charted EHR values are often copied forward (in PhysioNet 2012 set a, 98.9 % of weights
    after a stay's first equal the one before). Equal raw values have equal normal scores, so
    this compares the encoded values.

    Parameters
    ----------
    values : ndarray of shape (N, T, K)
        Encoded values, arbitrary where unobserved.
    observed : ndarray of shape (N, T, K), bool

    Returns
    -------
    ndarray of shape (N, T, K), bool
        True where a value is observed, an earlier step of the stay has one, and the latest
        earlier one is equal to it.
    """
    repeats = np.empty(values.shape, dtype=bool)
    for block in patient_blocks(values):
        repeats[block] = _repeats_in_block(values[block], observed[block])
    return repeats


def _repeats_in_block(values, observed) -> np.ndarray:
    n_patients, n_steps, n_channels = values.shape
    steps = np.arange(n_steps)[None, :, None]
    # Index of the latest observation strictly before each step (-1: none).
    latest = np.maximum.accumulate(np.where(observed, steps, -1), axis=1)
    before = np.concatenate([np.full((n_patients, 1, n_channels), -1), latest[:, :-1]], axis=1)
    previous = np.take_along_axis(values, np.maximum(before, 0), axis=1)
    return observed & (before >= 0) & (values == previous)


def repeat_shares(values, observed) -> np.ndarray:
    """Per channel, the share of measurements after a stay's first that repeat the one before.

    `values` and `observed` are (N, T, K); a channel with at most one measurement per stay
    has share 0.
    """
    repeats = repeated_measurements(values, observed).sum(axis=(0, 1))
    # measurements after each stay's first: all of them, less one per stay that has any
    later = observed.sum(axis=(0, 1)) - observed.any(axis=1).sum(axis=0)
    return repeats / np.maximum(later, 1)
