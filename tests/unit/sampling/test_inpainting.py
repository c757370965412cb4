"""Replacement conditioning against a Gaussian whose conditional law is known in closed form."""

import pytest
import torch

from cdmtehr.sampling.inpainting import replace_known, sample_replacement

RHO = 0.8
COVARIANCE = torch.tensor([[1.0, RHO], [RHO, 1.0]], dtype=torch.float64)


def correlated_denoiser(x, sigma, condition):
    """E[x0 | x] for x0 ~ N(0, C) and x = x0 + sigma * noise: C (C + sigma^2 I)^-1 x."""
    level = sigma.reshape(-1)[0].item() if torch.is_tensor(sigma) else sigma
    gain = COVARIANCE @ torch.linalg.inv(COVARIANCE + level**2 * torch.eye(2, dtype=x.dtype))
    return x @ gain.T


def grid(steps, sigma_max=80.0, sigma_min=0.002, rho=7.0):
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    low, high = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = torch.cat([(high + ramp * (low - high)) ** rho, torch.zeros(1, dtype=torch.float64)])
    return sigmas[:, None].expand(-1, 2).clone()


def _complete(sampler, n=4000, known_value=2.0, steps=60, seed=0):
    generator = torch.Generator().manual_seed(seed)
    sigmas = grid(steps)
    x = torch.randn(n, 2, generator=generator, dtype=torch.float64) * sigmas[0]
    clean = torch.zeros(n, 2, dtype=torch.float64)
    clean[:, 0] = known_value
    known = torch.zeros(n, 2, dtype=torch.bool)
    known[:, 0] = True
    out = sample_replacement(correlated_denoiser, x, sigmas, clean=clean, known=known,
                             sampler=sampler, generator=generator,
                             dtype=torch.float64)
    return out, clean, known


@pytest.mark.parametrize("sampler", ["euler", "heun", "sde", "dpmpp_2m"])
def test_known_entries_come_back_exactly_and_the_rest_is_drawn_given_them(sampler):
    out, clean, known = _complete(sampler)
    assert torch.equal(out[known], clean[known])
    drawn = out[:, 1]
    assert drawn.std() > 0.3  # drawn, not a constant
    # x1 | x0 = 2 is N(1.6, 0.36). Replacement is an approximation that falls short of it on
    # a lone known number (0.6 to 0.95 here), but
    # the draw moves clearly towards it from the unconditional mean 0 (+- 0.02 at n=4000).
    assert 0.4 < drawn.mean() < 1.8


def test_nothing_known_is_plain_sampling_and_everything_known_returns_the_clean_state():
    generator = torch.Generator().manual_seed(1)
    sigmas = grid(10)
    x = torch.randn(5, 2, generator=generator, dtype=torch.float64) * sigmas[0]
    clean = torch.randn(5, 2, generator=generator, dtype=torch.float64)
    everything = torch.ones(5, 2, dtype=torch.bool)
    out = sample_replacement(correlated_denoiser, x, sigmas, clean=clean, known=everything,
                             dtype=torch.float64)
    assert torch.equal(out, clean)
    from cdmtehr.sampling import sample_euler

    nothing = ~everything
    free = sample_replacement(correlated_denoiser, x, sigmas, clean=clean, known=nothing,
                              dtype=torch.float64)
    assert torch.equal(free, sample_euler(correlated_denoiser, x, sigmas, dtype=torch.float64))


def test_replace_known_noises_only_the_known_numbers_to_the_level():
    generator = torch.Generator().manual_seed(2)
    x = torch.full((20000, 2), 7.0, dtype=torch.float64)
    clean = torch.full((20000, 2), -1.0, dtype=torch.float64)
    known = torch.tensor([True, False]).expand(20000, 2)
    sigma = torch.tensor([3.0, 3.0], dtype=torch.float64)
    out = replace_known(x, clean, known, sigma, generator)
    assert torch.equal(out[:, 1], x[:, 1])
    assert abs(out[:, 0].mean().item() + 1.0) < 0.1 and abs(out[:, 0].std().item() - 3.0) < 0.1
