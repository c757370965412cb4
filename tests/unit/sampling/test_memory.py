"""Sampling memory does not grow with the steps: noise levels are computed one step at a time."""

import numpy as np
import pytest
import torch
from helpers.encoded import make_cohort, make_denoiser

from cdmtehr._parameters import MAX_STEPS, SAMPLE_ARGUMENTS, check_parameters
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.diffusion.schedule import FactorizedSchedule, SigmaSteps
from cdmtehr.exceptions import InvalidParameterError
from cdmtehr.sampling import SAMPLERS, generate


def _model():
    cohort = make_cohort(n=6, length=4)
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    tensors = CohortTensors.from_cohort(cohort, layout)
    return make_denoiser(layout, tensors, hidden_size=8).eval(), FactorizedSchedule(layout)


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_sampling_never_builds_the_grid_of_every_step(sampler, monkeypatch):
    denoiser, schedule = _model()
    batch_sizes = []
    original = FactorizedSchedule.sigma

    def one_row_at_a_time(self, u, length=None):
        batch_sizes.append(len(u))
        return original(self, u, length)

    def no_grid(self, steps):
        raise AssertionError("the sampler built the (steps + 1) x M grid")

    monkeypatch.setattr(FactorizedSchedule, "sigma", one_row_at_a_time)
    monkeypatch.setattr(FactorizedSchedule, "sigma_grid", no_grid)
    chunks = generate(denoiser, schedule, np.zeros(3, int), steps=7, sampler=sampler,
                      generator=torch.Generator().manual_seed(0), batch_size=2)
    assert len(list(chunks)) == 2
    assert batch_sizes and set(batch_sizes) == {1}


def test_steps_of_the_lazy_grid_equal_the_whole_grid():
    _, schedule = _model()
    grid = schedule.sigma_grid(9)
    steps = SigmaSteps(schedule, 9)
    assert len(steps) == 10 and grid.shape[0] == 10
    assert all(torch.equal(grid[i], steps[i]) for i in range(10))
    assert torch.equal(steps[-1], torch.zeros_like(steps[-1]))
    assert torch.equal(steps[0], schedule.sigma_max.double())


def test_a_sampler_gives_the_same_sample_from_rows_or_the_grid():
    denoiser, schedule = _model()
    sigmas = SigmaSteps(schedule, 5, transform=lambda row: denoiser.expand_sigma(row.float()))
    grid = torch.stack(list(sigmas))
    x = torch.randn(2, denoiser.layout.size, generator=torch.Generator().manual_seed(1)) * 80
    condition = torch.full((2,), denoiser.n_classes)
    out_rows = SAMPLERS["heun"](denoiser, x, sigmas, condition=condition)
    out_grid = SAMPLERS["heun"](denoiser, x, grid, condition=condition)
    assert torch.equal(out_rows, out_grid)


def test_absurd_step_counts_are_refused_with_a_clear_error():
    with pytest.raises(InvalidParameterError, match=r"'steps'.*\[1, 100000\]"):
        check_parameters({"steps": 10**6}, SAMPLE_ARGUMENTS, "CDMTSynthesizer.sample")
    check_parameters({"steps": MAX_STEPS}, SAMPLE_ARGUMENTS, "CDMTSynthesizer.sample")
