"""Blocks of patients for whole-cohort array work, so that its temporaries stay small.

Encoding a cohort, comparing each measurement with the one before and the first stage's
profile statistics build int64 or float64 arrays the size of all the values; on 100,000 stays
those are gigabytes each. Done a block of patients at a time, what they add to the memory is
that of one block, whatever the cohort's size or its longest stay.
"""

from __future__ import annotations

# Cells (patients x steps x channels) of one block: 2**21 cells are 16 MB per int64 array.
BLOCK_CELLS = 2**21


def patient_blocks(n_patients: int, cells_per_patient: int):
    """Slices over `n_patients` of at most `BLOCK_CELLS` cells each (one patient at least)."""
    size = max(1, BLOCK_CELLS // max(1, cells_per_patient))
    for start in range(0, n_patients, size):
        yield slice(start, min(start + size, n_patients))
