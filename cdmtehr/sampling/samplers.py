"""Samplers: small pure functions of (denoiser, x, sigmas), after k-diffusion and EDM.

A sampler integrates from pure noise at ``sigmas[0]`` down to ``sigmas[-1] == 0``. ``sigmas``
has shape (steps + 1, M): one descending noise level per step and per number of the state
(the schedule is per feature and per time step), so every update is element-wise. It is a
tensor or any sequence of rows (`SigmaSteps` computes each row when it is read): samplers read
the rows in order and keep two at a time, so their memory does not grow with the steps. ``denoiser``
is any callable ``denoiser(x, sigma, condition) -> denoised`` (guidance is a wrapper, see
guidance.py). The state is carried in float64, as in EDM and CDTD, and cast for the network.
"""

from __future__ import annotations

import torch


def _to_derivative(x, sigma, denoised):
    """The probability-flow ODE derivative dx/dsigma = (x - D(x; sigma)) / sigma (EDM Eq. 4)."""
    return (x - denoised) / sigma


def _steps(sigmas):
    """(i, sigma_i, sigma_(i+1)) for every step, in float64, reading each row once."""
    rows = iter(sigmas)
    sigma = next(rows).double()
    for i, sigma_next in enumerate(rows):
        sigma_next = sigma_next.double()
        yield i, sigma, sigma_next
        sigma = sigma_next


def _denoise(denoiser, x, sigma, condition, dtype):
    return denoiser(x.to(dtype), sigma.to(dtype), condition).to(x.dtype)


def euler_step(denoiser, x, sigma, sigma_next, *, condition=None, dtype=torch.float32,
               last=False, generator=None, history=None):
    """One Euler step of the probability-flow ODE from `sigma` to `sigma_next`.

    Every ``*_step`` function takes the same arguments, so that a loop around it (`sample_euler`,
    or `sampling.inpainting.sample_replacement`) works for any of them; ``last`` (the step to
    sigma = 0), ``generator`` and ``history`` (a dict that a multistep method keeps between
    the steps of one run) are unused here. Returns ``(x_next, denoised)``.
    """
    denoised = _denoise(denoiser, x, sigma, condition, dtype)
    return x + (sigma_next - sigma) * _to_derivative(x, sigma, denoised), denoised


def heun_step(denoiser, x, sigma, sigma_next, *, condition=None, dtype=torch.float32,
              last=False, generator=None, history=None):
    """One step of Heun's method; the `last` step (to sigma = 0) is an Euler step."""
    denoised = _denoise(denoiser, x, sigma, condition, dtype)
    derivative = _to_derivative(x, sigma, denoised)
    x_next = x + (sigma_next - sigma) * derivative
    if not last:
        # Second-order correction with the derivative at the end of the step.
        denoised_next = _denoise(denoiser, x_next, sigma_next, condition, dtype)
        derivative_next = _to_derivative(x_next, sigma_next, denoised_next)
        x_next = x + (sigma_next - sigma) * (derivative + derivative_next) / 2
    return x_next, denoised


def sde_step(denoiser, x, sigma, sigma_next, *, condition=None, dtype=torch.float32,
             last=False, generator=None, history=None, eta=1.0):
    """One ancestral step of the reverse SDE; the `last` step (to sigma = 0) adds no noise.

    Goes down to sigma_down deterministically and adds fresh noise of level sigma_up, with
    sigma_up^2 = eta^2 sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2 and
    sigma_down^2 = sigma_next^2 - sigma_up^2.
    """
    denoised = _denoise(denoiser, x, sigma, condition, dtype)
    sigma_up = (
        eta * (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2).clamp_min(0).sqrt()
    ).clamp(max=sigma_next)
    sigma_down = (sigma_next**2 - sigma_up**2).clamp_min(0).sqrt()
    x = x + (sigma_down - sigma) * _to_derivative(x, sigma, denoised)
    if not last:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x = x + noise * sigma_up
    return x, denoised


def dpmpp_2m_step(denoiser, x, sigma, sigma_next, *, condition=None, dtype=torch.float32,
                  last=False, generator=None, history=None):
    """One step of DPM-Solver++(2M), the multistep second-order solver of the data prediction.

    Lu et al. (2022), DPM-Solver++, Algorithm 2, in the variance-exploding form (alpha = 1,
    lambda = -log sigma): with h = lambda_next - lambda,

        x_next = (sigma_next / sigma) x + (1 - exp(-h)) D',
        D' = (1 + 1 / (2 r)) D_i - 1 / (2 r) D_(i-1),   r = h_(i-1) / h,

    where D' extrapolates the denoised state linearly in lambda from this step and the last
    one (kept in `history`). The first step, and the `last` one (to sigma = 0, where x_next
    is the denoised state), are first order: D' = D_i, which is exactly an Euler step. One
    network evaluation per step, like Euler, at second-order accuracy. Every quantity is
    element-wise, so per-feature grids work; where a number's previous step had no length
    (h_(i-1) = 0) its step is first order.
    """
    denoised = _denoise(denoiser, x, sigma, condition, dtype)
    history = {} if history is None else history
    extrapolated = denoised
    if not last:
        h = torch.log(sigma / sigma_next)
        if "denoised" in history:
            # 1 / (2 r) = h / (2 h_(i-1)); 0 where the last step was empty.
            h_last = history["h"]
            ratio = torch.where(h_last > 0, h / (2 * h_last.clamp_min(1e-30)),
                                torch.zeros_like(h))
            extrapolated = denoised + ratio * (denoised - history["denoised"])
        history["h"] = h
    history["denoised"] = denoised
    # (sigma_next / sigma) x + (1 - sigma_next / sigma) D' is the Euler step towards D'.
    return x + (sigma_next - sigma) * _to_derivative(x, sigma, extrapolated), denoised


def run_steps(step, denoiser, x, sigmas, callback, **options):
    """Apply `step` along the grid of `sigmas`, calling `callback` after every step.

    ``step(denoiser, x, sigma, sigma_next, last=..., **options) -> (x, denoised)`` is one
    sampler step (Euler, Heun, SDE, or the inpainting's replaced step); `x` is carried in
    float64 between steps; a multistep method keeps what it needs from one step to the next
    in ``history``, a dict of this run. Returns the state after the last step.
    """
    x = x.double()
    last = len(sigmas) - 2
    history = {}
    for i, sigma, sigma_next in _steps(sigmas):
        x, denoised = step(denoiser, x, sigma, sigma_next, last=i == last, history=history,
                           **options)
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sigma, "denoised": denoised})
    return x


@torch.inference_mode()
def sample_euler(denoiser, x, sigmas, *, condition=None, callback=None, dtype=torch.float32):
    """Euler steps of the probability-flow ODE (Karras et al. 2022, Algorithm 1, first order).

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x, sigma, condition) -> denoised`` on states of shape (B, M).
    x : Tensor of shape (B, M)
        Initial noise, already scaled by ``sigmas[0]``.
    sigmas : Tensor of shape (steps + 1, M) or SigmaSteps
        Descending noise levels, last row 0 (any sequence of rows with a length).
    condition : LongTensor of shape (B,), optional
        Passed through to the denoiser.
    callback : callable, optional
        Called with ``{"i", "x", "sigma", "denoised"}`` after every step.
    dtype : torch.dtype, default=torch.float32
        Precision of the network evaluations.

    Returns
    -------
    Tensor of shape (B, M)
        The sample, in float64.
    """
    return run_steps(euler_step, denoiser, x, sigmas, callback, condition=condition, dtype=dtype)


@torch.inference_mode()
def sample_heun(denoiser, x, sigmas, *, condition=None, callback=None, dtype=torch.float32):
    """Heun's second-order method (Karras et al. 2022, Algorithm 1).

    Costs 2 * steps - 1 network evaluations: the last step, to sigma = 0, is an Euler step.
    Arguments and result as `sample_euler`.
    """
    return run_steps(heun_step, denoiser, x, sigmas, callback, condition=condition, dtype=dtype)


@torch.inference_mode()
def sample_sde(
    denoiser,
    x,
    sigmas,
    *,
    condition=None,
    generator=None,
    eta=1.0,
    callback=None,
    dtype=torch.float32,
):
    """Ancestral (Euler-Maruyama) steps of the reverse SDE (k-diffusion's ancestral Euler).

    Each step is `sde_step`; eta = 0 is `sample_euler`.

    Parameters
    ----------
    generator : torch.Generator, optional
        Source of the injected noise (same generator, same sample).
    eta : float, default=1.0
        Amount of injected noise.

    Other arguments and the result are as in `sample_euler`.
    """
    return run_steps(sde_step, denoiser, x, sigmas, callback, condition=condition, dtype=dtype,
                generator=generator, eta=eta)


@torch.inference_mode()
def sample_dpmpp_2m(denoiser, x, sigmas, *, condition=None, callback=None,
                    dtype=torch.float32):
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2): second order at one network evaluation
    per step, for the probability-flow ODE. Arguments and result as `sample_euler`."""
    return run_steps(dpmpp_2m_step, denoiser, x, sigmas, callback, condition=condition,
                     dtype=dtype)


# What `CDMTSynthesizer.sample` draws with unless told otherwise: 8 steps of DPM-Solver++(2M)
# draw what 200 Euler steps draw (discriminators at 0.50 against them) at 8 ms per patient on
# two cores, against 51 for 50 Euler steps (docs/benchmarks.md, *Samplers against 200 Euler
# steps*).
DEFAULT_SAMPLER = "dpmpp_2m"
DEFAULT_STEPS = 8

SAMPLERS = {"euler": sample_euler, "heun": sample_heun, "sde": sample_sde,
            "dpmpp_2m": sample_dpmpp_2m}
# The single steps of each sampler, for loops that change the state between steps.
STEPS = {"euler": euler_step, "heun": heun_step, "sde": sde_step, "dpmpp_2m": dpmpp_2m_step}
