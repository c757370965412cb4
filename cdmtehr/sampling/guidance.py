"""Classifier-free guidance as a wrapper around the denoiser (Ho & Salimans 2022)."""

from __future__ import annotations

import torch


def classifier_free_guidance(denoiser, scale: float, null_class: int):
    """Return a denoiser that mixes conditional and unconditional predictions.

    D_w(x) = D(x | null) + w (D(x | c) - D(x | null)), both branches in one batched forward
    pass of 2B patients. With w = 1 the plain conditional denoiser is returned (half the cost).

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x, sigma, condition) -> denoised``.
    scale : float
        Guidance scale w >= 0; 0 is unconditional, 1 is conditional.
    null_class : int
        Index of the null token.

    Returns
    -------
    callable
        A denoiser with the same signature.
    """
    if scale == 1:
        return denoiser

    def guided(x, sigma, condition):
        null = torch.full_like(condition, null_class)
        sigma_both = torch.cat([sigma, sigma]) if sigma.dim() == x.dim() else sigma
        both = denoiser(torch.cat([x, x]), sigma_both, torch.cat([condition, null]))
        conditional, unconditional = both.chunk(2)
        return unconditional + scale * (conditional - unconditional)

    return guided
