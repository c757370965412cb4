"""Building the denoiser: the step scales measured on the cohort, repeats left out."""

import numpy as np
from helpers.encoded import make_cohort

from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.build import numeric_step_scales
from cdmtehr.diffusion.layout import StateLayout


def test_step_scales_measure_the_change_between_consecutive_measurements():
    cohort = make_cohort(n=3, length=6)
    cohort.lengths[:] = 6
    cohort.observed[:] = False
    # Channel 0: measured at steps 0, 2 and 5 with values 1, 3, 2 (forward filled between).
    cohort.observed[0, [0, 2, 5], 0] = True
    cohort.numeric[0, :, 0] = [1, 1, 3, 3, 3, 2]
    # Channel 1: a value charted at every step and never changing.
    cohort.observed[:, :, 1] = True
    cohort.numeric[:, :, 1] = 4.0
    # Channel 2: measured once per stay: no change to measure.
    cohort.observed[:, 3, 2] = True
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    scales = numeric_step_scales(CohortTensors.from_cohort(cohort, layout), layout)
    # Changes +2 and -1: RMS sqrt(5/2), divided by sqrt 2.
    np.testing.assert_allclose(scales, [np.sqrt(5 / 4), 0.0, 0.0], rtol=1e-6)


def test_step_scales_of_repeated_channels_leave_the_repeats_out():
    cohort = make_cohort(n=3, length=6)
    cohort.lengths[:] = 6
    cohort.observed[:] = False
    # Channel 0, every stay: 2, 2, 2, 5, 5 and unmeasured at the last step: the changes are
    # 0, 0, +3, 0, of which only +3 is between distinct measurements.
    cohort.observed[:, :5, 0] = True
    cohort.numeric[:, :, 0] = [2, 2, 2, 5, 5, 5]
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    assert 0 in layout.repeated_values
    tensors = CohortTensors.from_cohort(cohort, layout)
    # Counting the repeats would give sqrt(9 / 4 / 2).
    np.testing.assert_allclose(numeric_step_scales(tensors, layout)[0], np.sqrt(9 / 2), rtol=1e-6)
