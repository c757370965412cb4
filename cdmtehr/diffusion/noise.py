"""Diffusion noise that is correlated along time within each number of a time step.

The forward process adds sigma * n to the clean state. With white n every time step of a
stay gets independent noise, and whatever the denoiser fails to remove stays as independent
jitter from hour to hour: synthetic weights and slow labs then vary within a stay far more
than real ones (docs/benchmarks.md). Here each number of the temporal block (one numeric
value, one embedding coordinate) gets an AR(1) noise path over the T steps, with unit
variance and correlation ``rho ** |i - j|`` between steps i and j, a discretised
Ornstein-Uhlenbeck process as in the stochastic-process diffusion of Biloš et al. (2023,
"Modeling temporal data as continuous functions with stochastic process diffusion"). Static
numbers keep white noise.

Every number still has noise variance sigma^2, and x_sigma = x_0 + sigma * n holds for any
noise n independent of x_0, so the denoiser's target, the loss and the probability-flow ODE
dx/dsigma = (x - D(x; sigma)) / sigma are unchanged (the velocity of the conditional path is
(x - x_0) / sigma and its conditional mean given x is (x - D) / sigma). Only the draws
change: the training noise, the samplers' starting noise and the stochastic sampler's fresh
noise (which must have the same covariance to keep the marginals).
"""

from __future__ import annotations

import functools
import math

import torch


# Cached: every training step and every sampler chunk (every step of the stochastic sampler)
# asks for the same T x T factor.
@functools.lru_cache(maxsize=16)
def ar1_cholesky(length: int, correlation: float, dtype=torch.float64) -> torch.Tensor:
    """Lower-triangular L with L L^T = [correlation ** |i - j|] (T x T).

    The AR(1) recursion n_0 = w_0, n_t = rho n_{t-1} + sqrt(1 - rho^2) w_t written as a matrix:
    L[i, 0] = rho^i and L[i, j] = sqrt(1 - rho^2) rho^(i - j) for 1 <= j <= i. The result is
    shared between calls (cached): read it, never modify it in place.
    """
    if not 0.0 <= correlation < 1.0:
        raise ValueError(f"correlation must be in [0, 1); got {correlation!r}.")
    steps = torch.arange(length, dtype=dtype)
    lag = steps[:, None] - steps[None, :]
    factor = torch.where(lag >= 0, correlation ** lag.clamp_min(0), torch.zeros((), dtype=dtype))
    factor[:, 1:] *= math.sqrt(1.0 - correlation**2)
    return factor


def correlate_in_time(white: torch.Tensor, layout, correlation: float) -> torch.Tensor:
    """Turn white noise over flat states (B, M) into noise that is AR(1) along time.

    Parameters
    ----------
    white : Tensor of shape (B, M)
        Independent standard normal draws.
    layout : StateLayout
        Where the temporal block (T rows of Dt numbers) ends.
    correlation : float
        rho in [0, 1): the correlation of one number's noise between neighbouring steps.
        0 returns `white` itself.

    Returns
    -------
    Tensor of shape (B, M)
        Standard normal in every number; the temporal block correlated along time.
    """
    if correlation == 0.0:
        return white
    steps, width = layout.max_length, layout.temporal.width
    cut = steps * width
    factor = ar1_cholesky(steps, correlation).to(white.device, white.dtype)
    temporal = white[:, :cut].unflatten(1, (steps, width))
    temporal = torch.einsum("ts,bsw->btw", factor, temporal).flatten(1)
    return torch.cat([temporal, white[:, cut:]], dim=1)


def noise_sampler(layout, correlation: float, generator: torch.Generator | None):
    """A callable ``noise(like) -> Tensor`` of the diffusion noise's law, for the samplers."""

    def draw(like: torch.Tensor) -> torch.Tensor:
        white = torch.randn(like.shape, generator=generator, dtype=like.dtype)
        return correlate_in_time(white, layout, correlation).to(like.device)

    return draw
