"""profile_table: one row of profile per patient, computed a block of patients at a time."""

from dataclasses import replace

import numpy as np
from helpers.encoded import make_cohort

import cdmtehr.profiles as profiles
from cdmtehr import _blocks
from cdmtehr.diffusion.layout import StateLayout


def test_blocks_give_the_table_of_all_patients_at_once(monkeypatch):
    cohort = make_cohort(n=23, length=6)
    cohort = replace(cohort, numeric=np.ascontiguousarray(cohort.numeric))
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    whole, gates = profiles.profile_table(cohort, layout)
    cells = cohort.numeric[0].size
    monkeypatch.setattr(_blocks, "BLOCK_CELLS", 5 * cells)  # blocks of 5, the last one of 3
    blocked, blocked_gates = profiles.profile_table(cohort, layout)
    assert blocked_gates == gates and blocked.shape == whole.shape == (23, whole.shape[1])
    np.testing.assert_allclose(blocked, whole, rtol=1e-12, equal_nan=True)
    # length, then per masked value its measured steps inside the stay
    np.testing.assert_array_equal(whole[:, 0], cohort.lengths)
    inside = np.arange(6)[None, :] < cohort.lengths[:, None]
    masked = list(layout.masked_values)
    counts = (cohort.observed & inside[:, :, None])[:, :, masked].sum(axis=1)
    np.testing.assert_array_equal(whole[:, 1 : 1 + len(masked)], counts)
