"""Noise schedules: monotone in time, at their bounds, one parameter set per feature and step."""

import pytest
import torch

from cdmtehr.diffusion.schedule import (
    SIGMA_MAX_CATEGORICAL,
    SIGMA_MAX_NUMERIC,
    SIGMA_MIN,
    EDMSchedule,
    FactorizedSchedule,
)


@pytest.mark.parametrize("schedule_class", [FactorizedSchedule, EDMSchedule])
def test_schedule_is_monotone_and_hits_its_bounds(parts, schedule_class):
    _, layout, _, _ = parts
    schedule = schedule_class(layout)
    if schedule_class is FactorizedSchedule:
        with torch.no_grad():  # a non-trivial learned state
            for p in schedule.parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    u = torch.linspace(1e-4, 1 - 1e-4, 200)
    sigma = schedule.sigma(u)
    assert sigma.shape == (200, layout.n_features)
    assert (sigma.diff(dim=0) >= 0).all()
    grid = schedule.sigma_grid(7)
    assert grid.shape == (8, layout.n_features)
    assert (grid.diff(dim=0) <= 0).all()
    assert (grid[-1] == 0).all()
    categorical = torch.as_tensor(layout.feature_is_categorical())
    expected_max = torch.where(categorical, SIGMA_MAX_CATEGORICAL, SIGMA_MAX_NUMERIC).double()
    torch.testing.assert_close(grid[0], expected_max)
    assert torch.all(schedule.sigma(torch.tensor([1e-6])) < SIGMA_MIN * 1.5 + 1e-3)


def test_factorized_schedule_has_feature_plus_step_parameters(parts):
    _, layout, _, _ = parts
    schedule = FactorizedSchedule(layout)
    n_params = sum(p.numel() for p in schedule.parameters())
    n_features = layout.temporal.n_features + layout.static.n_features
    assert n_params == 3 * (n_features + layout.max_length + 1) + 3
    with torch.no_grad():
        schedule.position_terms[0, 2] += 2.0  # move mu of time step 2 only
    sigma = schedule.sigma(torch.tensor([0.5]))[0]
    temporal = sigma[: layout.max_length * layout.temporal.n_features].view(layout.max_length, -1)
    base = FactorizedSchedule(layout).sigma(torch.tensor([0.5]))[0]
    base_temporal = base[: temporal.numel()].view_as(temporal)
    changed = ~torch.isclose(temporal, base_temporal)
    assert changed[2].all() and not changed[[0, 1, 3]].any()


@pytest.mark.parametrize("schedule_class", [FactorizedSchedule, EDMSchedule])
def test_states_padded_to_fewer_steps_get_the_noise_of_their_own_features(parts,
                                                                          schedule_class):
    _, layout, _, _ = parts
    schedule = schedule_class(layout)
    u = torch.tensor([0.1, 0.5, 0.9])
    features = torch.as_tensor(layout.cut_features(2))
    full = schedule.sigma(u)
    torch.testing.assert_close(schedule.sigma(u, 2), full[:, features])
    assert schedule.sigma(u, 2).shape[1] == layout.cut(2).n_features
    steps = list(schedule.sigma_steps(4, length=2))
    for row, whole in zip(steps, schedule.sigma_steps(4), strict=True):
        torch.testing.assert_close(row, whole[features])
    if schedule_class is FactorizedSchedule:
        for cut, whole in zip(schedule.cdf(full[:, features]), schedule.cdf(full), strict=True):
            torch.testing.assert_close(cut, whole[..., features] if whole.dim() else whole)
