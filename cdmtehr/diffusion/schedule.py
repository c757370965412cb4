"""Noise schedules sigma(u): a fixed EDM schedule and the factorized learnable one.

Diffusion time is ``u`` in [0, 1]. Every feature (k, tau) of a patient gets its own noise level
sigma_{k,tau}(u), monotone in u, from ``sigma_min`` at u = 0 to ``sigma_max`` at u = 1. Features are
indexed in the flat order of `StateLayout` (T rows of Kt temporal features, then Ks static ones).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layout import StateLayout

SIGMA_MIN = 0.002
SIGMA_MAX_NUMERIC = 80.0  # CDTD's bounds (Mueller et al. 2025, configs/default_all).
SIGMA_MAX_CATEGORICAL = 100.0
_EPS = 1e-6


def _feature_bounds(layout: StateLayout) -> tuple:
    categorical = torch.as_tensor(layout.feature_is_categorical())
    sigma_max = torch.where(
        categorical,
        torch.tensor(SIGMA_MAX_CATEGORICAL, dtype=torch.float64),
        torch.tensor(SIGMA_MAX_NUMERIC, dtype=torch.float64),
    )
    sigma_min = torch.full_like(sigma_max, SIGMA_MIN)
    return sigma_min, sigma_max


class _Schedule(nn.Module):
    """Shared parts: bounds per feature and the sampling grid."""

    def __init__(self, layout: StateLayout):
        super().__init__()
        sigma_min, sigma_max = _feature_bounds(layout)
        self.layout = layout
        self.register_buffer("sigma_min", sigma_min.float())
        self.register_buffer("sigma_max", sigma_max.float())

    def sigma(self, u: torch.Tensor, length: int | None = None) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def _features(self, length: int | None):
        """Index of the features of states padded to `length` steps (None: all of them)."""
        if length is None or length == self.layout.max_length:
            return slice(None)
        return torch.as_tensor(self.layout.cut_features(length), device=self.sigma_max.device)

    def _length_of(self, n_features: int) -> int | None:
        """The steps of states whose noise levels are `n_features` long (None: all steps)."""
        if n_features == self.sigma_max.shape[0]:
            return None
        return self.layout.length_of(n_features, per_feature=True)

    def _bounds(self, length: int | None = None) -> tuple:
        """(sigma_min, sigma_max) of the features of states padded to `length` steps."""
        features = self._features(length)
        return self.sigma_min[features], self.sigma_max[features]

    def sigma_grid(self, steps: int) -> torch.Tensor:
        """Noise levels of a `steps`-step sampler, shape (steps + 1, n_features), float64.

        Uniform in u from 1 to 0 (Mueller et al. 2025, Sec. 3.4: with a learned warp, uniform
        steps in u are spent where the loss changes fastest); the last row is exactly 0.
        The whole grid at once: samplers take `sigma_steps`, whose rows are computed one
        at a time, so that their memory does not grow with `steps`.
        """
        return torch.stack(list(self.sigma_steps(steps)))

    def sigma_steps(self, steps: int, transform=None, length: int | None = None) -> SigmaSteps:
        """The rows of `sigma_grid`, each computed when a sampler asks for it (`length`: for
        states padded to that many steps)."""
        return SigmaSteps(self, steps, transform, length)

    def loss(self, sigma, feature_loss, weight) -> torch.Tensor:
        """Schedule-fitting loss; a fixed schedule has none."""
        return sigma.new_zeros(())


class SigmaSteps:
    """The noise levels of a `steps`-step sampler, one row (n_features,) at a time.

    Behaves as the (steps + 1, n_features) float64 grid of `_Schedule.sigma_grid` for
    ``len``, indexing and iteration, but holds no grid: row i is computed when it is read, so
    a sampler's memory does not depend on `steps`. `transform` (e.g. the denoiser's
    ``expand_sigma``) is applied to each row; `length` gives the rows of states padded to
    that many steps (None: the layout's `max_length`).
    """

    def __init__(self, schedule: _Schedule, steps: int, transform=None,
                 length: int | None = None):
        self.schedule, self.steps, self.transform = schedule, int(steps), transform
        self.length = length

    def __len__(self) -> int:
        return self.steps + 1

    def __getitem__(self, index: int) -> torch.Tensor:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        _, sigma_max = self.schedule._bounds(self.length)
        if index == 0:
            row = sigma_max.double()
        elif index == self.steps:
            row = torch.zeros_like(sigma_max, dtype=torch.float64)
        else:
            u = (self.steps - index) / self.steps  # uniform in u, from 1 down to 0
            u = torch.tensor([max(u, _EPS)], dtype=torch.float64, device=sigma_max.device)
            with torch.no_grad():
                row = self.schedule.sigma(u, self.length)[0].double()
        return row if self.transform is None else self.transform(row)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class EDMSchedule(_Schedule):
    """Fixed schedule: Karras et al. (2022) rho-interpolation of u, the same for every feature.

    sigma(u) = (sigma_min^(1/rho) + u (sigma_max^(1/rho) - sigma_min^(1/rho)))^rho, Eq. 5 of EDM,
    used for training (u uniform) and sampling (u on a uniform grid). The ablation baseline of
    the learned schedule.

    Parameters
    ----------
    layout : StateLayout
        The state whose features get noise levels.
    rho : float, default=7
        Curvature of the interpolation.
    """

    def __init__(self, layout: StateLayout, rho: float = 7.0):
        super().__init__(layout)
        self.rho = rho

    def sigma(self, u: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Noise levels (B, n_features) for diffusion times u of shape (B,), of states padded
        to `length` steps (None: the layout's `max_length`)."""
        sigma_min, sigma_max = self._bounds(length)
        low = sigma_min ** (1 / self.rho)
        high = sigma_max ** (1 / self.rho)
        u = u.to(low.dtype)[:, None]
        return (low + u * (high - low)) ** self.rho


class FactorizedSchedule(_Schedule):
    """Factorized learnable noise schedule sigma_{k,tau}(u) (our reconstruction of CDMT-EHR).

    Each feature k at each time step tau has a logistic time warp of u (CDCD/CDTD timewarping,
    Dieleman et al. 2022; Mueller et al. 2025, Sec. 3.3):

        s_{k,tau}(u) = sigmoid(mu_{k,tau} + logit(u) / v_{k,tau}),
        sigma_{k,tau}(u) = sigma_min + (sigma_max - sigma_min) s_{k,tau}(u),

    with v = 1 + softplus(nu) > 1 and a loss scale gamma = softplus(g) > 0. CDMT-EHR's abstract
    asks for a schedule adapted to "per-feature-per-timestep learning difficulties"; we factor
    every raw parameter as a global term plus a feature term plus a time-step term,
    mu_{k,tau} = mu_0 + a_k + b_tau (likewise nu, g), so 3 (K + T + 2) numbers replace 3 K T and
    rare cells borrow strength from their row and column. Static features use their own
    feature terms and one shared "static" time-step term.

    The warp is fitted, CDTD-style, so that gamma F_{k,tau}(s) follows the per-cell calibrated
    diffusion loss (F is the CDF, inverse of s(u)); sampling sigma = s(u) for uniform u then
    spends training and sampling steps where the loss changes fastest.

    Parameters
    ----------
    layout : StateLayout
        The state whose features get noise levels.
    initial_median_sigma : float, default=1.0
        sigma at u = 1/2 before training. CDTD starts near-uniform in s (median sigma ~ 20);
        with a few hundred CPU steps we start instead near EDM's useful range.
    """

    def __init__(self, layout: StateLayout, initial_median_sigma: float = 1.0):
        super().__init__(layout)
        n_temporal = layout.temporal.n_features
        n_static = layout.static.n_features
        steps = layout.max_length
        feature_id = torch.cat(
            [
                torch.arange(n_temporal).repeat(steps),
                n_temporal + torch.arange(n_static),
            ]
        )
        position_id = torch.cat(
            [
                torch.arange(steps).repeat_interleave(n_temporal),
                torch.full((n_static,), steps),
            ]
        )
        self.register_buffer("feature_id", feature_id, persistent=False)
        self.register_buffer("position_id", position_id, persistent=False)

        n_features, n_positions = n_temporal + n_static, steps + 1
        self.feature_terms = nn.Parameter(torch.zeros(3, n_features))
        self.position_terms = nn.Parameter(torch.zeros(3, n_positions))
        v0 = 1.01
        s0 = (initial_median_sigma - self.sigma_min) / (self.sigma_max - self.sigma_min)
        mu0 = torch.log(s0 / (1 - s0))  # per feature type, so categorical bounds are honoured
        nu0 = math.log(math.expm1(v0 - 1))
        self.register_buffer("mu0", mu0)
        self.global_terms = nn.Parameter(torch.tensor([0.0, nu0, math.log(math.expm1(1.0))]))

    def _warp_parameters(self, length: int | None = None) -> tuple:
        """mu, v, gamma per feature of states padded to `length` steps, each (n_features,)."""
        features = self._features(length)
        raw = (
            self.global_terms[:, None]
            + self.feature_terms[:, self.feature_id[features]]
            + self.position_terms[:, self.position_id[features]]
        )
        mu = self.mu0[features] + raw[0]
        v = 1 + nn.functional.softplus(raw[1])
        gamma = nn.functional.softplus(raw[2])
        return mu, v, gamma

    def sigma(self, u: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Noise levels (B, n_features) for diffusion times u of shape (B,), of states padded
        to `length` steps (None: the layout's `max_length`)."""
        mu, v, _ = self._warp_parameters(length)
        sigma_min, sigma_max = self._bounds(length)
        u = u.to(mu.dtype).clamp(_EPS, 1 - _EPS)[:, None]
        s = torch.sigmoid(mu + torch.logit(u) / v)
        return sigma_min + (sigma_max - sigma_min) * s

    def cdf(self, sigma: torch.Tensor) -> tuple:
        """F(s) and its density f(s) at the normalised level of `sigma` (B, n_features), of
        states of any padded length."""
        length = self._length_of(sigma.shape[-1])
        mu, v, gamma = self._warp_parameters(length)
        sigma_min, sigma_max = self._bounds(length)
        s = ((sigma - sigma_min) / (sigma_max - sigma_min)).clamp(_EPS, 1 - _EPS)
        cdf = torch.sigmoid(v * (torch.logit(s) - mu))
        density = v * cdf * (1 - cdf) / (s * (1 - s))
        return cdf, density, gamma

    def loss(self, sigma, feature_loss, weight) -> torch.Tensor:
        """Fit gamma F(s) to the calibrated per-cell loss, importance weighted by 1/f(s).

        Parameters
        ----------
        sigma : Tensor of shape (B, n_features)
            The (detached) noise levels used for the batch.
        feature_loss : Tensor of shape (B, n_features)
            Calibrated diffusion loss per cell (detached inside).
        weight : Tensor of shape (B, n_features)
            1 where the cell counts, 0 where it does not (padding).
        """
        cdf, density, gamma = self.cdf(sigma.detach())
        residual = (gamma * cdf - feature_loss.detach()) ** 2 / density.detach().clamp_min(1e-2)
        return (residual * weight).sum() / weight.sum().clamp_min(1.0)


SCHEDULES = {"factorized": FactorizedSchedule, "edm": EDMSchedule}


def make_schedule(name: str, layout: StateLayout) -> _Schedule:
    """Build the schedule called `name` ("factorized" or "edm") for `layout`."""
    return SCHEDULES[name](layout)
