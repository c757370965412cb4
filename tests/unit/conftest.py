"""Unit tests of the diffusion model and its first stage share one small random cohort, its
layout, tensors and denoiser."""

import pytest
from helpers.encoded import make_cohort, make_denoiser

from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.layout import StateLayout


@pytest.fixture
def parts():
    cohort = make_cohort()
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    tensors = CohortTensors.from_cohort(cohort, layout)
    return cohort, layout, tensors, make_denoiser(layout, tensors)
