"""Blocks of patients for whole-cohort array work, so that its temporaries stay small.

Encoding a cohort, comparing each measurement with the one before and the first stage's
profile statistics build int64 or float64 arrays the size of all the values; on 100,000 stays
those are gigabytes each. Done a block of patients at a time, what they add to the memory is
that of one block, whatever the cohort's size or its longest stay.
"""

from __future__ import annotations

import math

# Cells (patients x steps x channels) of one block: 2**21 cells are 16 MB per int64 array.
BLOCK_CELLS = 2**21


def patient_blocks(array):
    """Slices over the patients (first axis) of `array`, a numpy array or tensor, of at most
    `BLOCK_CELLS` cells each (one patient at least); one empty slice when it has none, so that
    a caller's result keeps its shape."""
    n_patients = len(array)
    size = max(1, BLOCK_CELLS // max(1, math.prod(array.shape[1:])))
    for start in range(0, max(n_patients, 1), size):
        yield slice(start, min(start + size, n_patients))
