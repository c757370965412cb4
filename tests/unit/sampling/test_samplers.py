"""Samplers against closed-form oracles (no training needed)."""

import pytest
import torch

from cdmtehr.sampling import SAMPLERS, sample_euler

MEAN = torch.tensor([1.5, -2.0, 0.0, 3.0], dtype=torch.float64)
STD = torch.tensor([0.5, 1.0, 2.0, 0.1], dtype=torch.float64)


def gaussian_denoiser(x, sigma, condition):
    """E[x0 | x] for x0 ~ N(MEAN, STD^2) and x = x0 + sigma * noise, element-wise."""
    mean, var = MEAN.to(x.dtype), STD.to(x.dtype) ** 2
    return mean + var / (var + sigma**2) * (x - mean)


def karras_grid(steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    low, high = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (high + ramp * (low - high)) ** rho
    sigmas = torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)])
    return sigmas[:, None].expand(-1, len(MEAN)).clone()


def _variance_error(name, steps):
    generator = torch.Generator().manual_seed(0)
    sigmas = karras_grid(steps)
    x = torch.randn(20000, len(MEAN), generator=generator, dtype=torch.float64) * sigmas[0]
    extra = {"generator": generator} if name == "sde" else {}
    out = SAMPLERS[name](gaussian_denoiser, x, sigmas, dtype=torch.float64, **extra)
    torch.testing.assert_close(out.mean(0), MEAN, atol=0.05, rtol=0)
    return float((out.std(0) / STD - 1).abs().max())


@pytest.mark.parametrize("name", ["euler", "heun", "sde", "dpmpp_2m"])
def test_sampler_recovers_gaussian_target_and_converges(name):
    errors = [_variance_error(name, steps) for steps in (10, 50, 200)]
    # Discretisation error shrinks with the step count and is small at 200 steps.
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.04


def test_heun_is_second_order_accurate_at_50_steps():
    assert _variance_error("heun", 50) < 0.02 < _variance_error("euler", 50)


def test_dpmpp_2m_is_second_order_at_one_evaluation_per_step():
    # The same network evaluations as Euler; its error falls as fast as Heun's (by about 3
    # from 25 to 50 steps, Euler's by 2) and is Heun's at 50 steps, for half the evaluations.
    errors = {steps: _variance_error("dpmpp_2m", steps) for steps in (10, 25, 50)}
    assert errors[10] < _variance_error("euler", 10) / 1.5
    assert errors[25] / errors[50] > 2.8
    assert errors[50] < 0.02 < _variance_error("euler", 50) / 3
    calls = []

    def counting(x, sigma, condition):
        calls.append(1)
        return gaussian_denoiser(x, sigma, condition)

    sigmas = karras_grid(12)
    SAMPLERS["dpmpp_2m"](counting, torch.zeros(3, len(MEAN), dtype=torch.float64), sigmas)
    assert len(calls) == 12


def test_dpmpp_2m_first_step_is_euler_and_last_step_is_the_denoised_state():
    sigmas = karras_grid(1)  # a single step, from sigma_max to 0
    x = torch.randn(8, len(MEAN), generator=torch.Generator().manual_seed(2),
                    dtype=torch.float64) * sigmas[0]
    out = SAMPLERS["dpmpp_2m"](gaussian_denoiser, x, sigmas, dtype=torch.float64)
    torch.testing.assert_close(out, gaussian_denoiser(x, sigmas[0], None))
    two = karras_grid(2)
    torch.testing.assert_close(
        SAMPLERS["dpmpp_2m"](gaussian_denoiser, x, two, dtype=torch.float64),
        SAMPLERS["euler"](gaussian_denoiser, x, two, dtype=torch.float64),
    )


def test_dpmpp_2m_handles_numbers_whose_level_holds_still():
    # A per-element grid where one number's level stays put for a step (h = 0) and another's
    # moves: no division by zero, and the still number is left where it was for that step.
    sigmas = karras_grid(6)
    sigmas[2:4, 0] = sigmas[2, 0]
    x = torch.randn(32, len(MEAN), generator=torch.Generator().manual_seed(5),
                    dtype=torch.float64) * sigmas[0]
    out = SAMPLERS["dpmpp_2m"](gaussian_denoiser, x, sigmas, dtype=torch.float64)
    assert torch.isfinite(out).all()


def test_sampler_is_deterministic_and_per_element_grids_work():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(64, len(MEAN), generator=generator, dtype=torch.float64)
    # Different schedule per element, as the factorized schedule produces.
    sigmas = karras_grid(25) * torch.tensor([1.0, 0.5, 0.25, 1.0], dtype=torch.float64)
    first = sample_euler(gaussian_denoiser, x * sigmas[0], sigmas, dtype=torch.float64)
    second = sample_euler(gaussian_denoiser, x * sigmas[0], sigmas, dtype=torch.float64)
    assert torch.equal(first, second)
    assert first.shape == x.shape and first.dtype == torch.float64


def test_sde_same_generator_seed_same_sample():
    sigmas = karras_grid(20)
    runs = []
    for _ in range(2):
        generator = torch.Generator().manual_seed(11)
        x = torch.randn(16, len(MEAN), generator=generator, dtype=torch.float64) * sigmas[0]
        runs.append(SAMPLERS["sde"](gaussian_denoiser, x, sigmas, generator=generator))
    assert torch.equal(runs[0], runs[1])
