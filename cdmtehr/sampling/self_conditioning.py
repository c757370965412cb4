"""Self-conditioning at sampling time: each step's denoiser reads the previous step's output."""

from __future__ import annotations


def self_conditioned(denoiser):
    """Return a denoiser that passes its previous output back to `denoiser` as the estimate.

    Chen, Zhang & Hinton (2023, "Analog Bits", Sec. 3): a self-conditioned network gets,
    next to the noisy state, its own latest estimate of the clean state, so that it refines
    a draft instead of starting again at every step. The first call gets none (zeros), as
    in training. The wrapper carries state, so make one per sampler run (per chunk of
    patients); the samplers themselves stay pure functions of ``denoiser(x, sigma,
    condition)``. Under classifier-free guidance wrap the raw denoiser, inside the guidance,
    so that the conditional and unconditional branches each read their own estimate.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x, sigma, condition, estimate) -> denoised``.

    Returns
    -------
    callable
        ``denoiser(x, sigma, condition) -> denoised``.
    """
    previous = None

    def step(x, sigma, condition):
        nonlocal previous
        previous = denoiser(x, sigma, condition, previous)
        return previous

    return step
