"""Measurement counts: how often each channel is charted in a stay, as a static feature.

A charting order is one decision per stay (temperature every four hours, FiO2 hourly while
ventilated, never otherwise). Per-step observation masks generated side by side spread it:
with the right number of measurements on average, their count per stay comes out far too
varied (docs/benchmarks.md, *Session 7*). With ``measurement_counts``, the number of measured
steps of every masked channel is a static numeric feature of the patient, generated with the
rest, and the masks are decoded to it: exactly that many steps, those whose generated mask
leans most to "measured".
"""

from __future__ import annotations

import torch


def count_scores(observed: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Normal scores of the measured steps of each channel in each stay, (N, C) float32.

    score = Phi^-1((count + 1/2) / (length + 1)): a fixed transform (nothing fitted), exactly
    invertible by `counts_from_scores`, from about -2.3 (never) to 2.3 (every step of a
    48-step stay).

    Parameters
    ----------
    observed : bool Tensor of shape (N, T, C)
    valid : bool Tensor of shape (N, T)
    """
    counts = (observed & valid[..., None]).sum(dim=1).double()
    lengths = valid.sum(dim=1, keepdim=True).double()
    return torch.special.ndtri((counts + 0.5) / (lengths + 1)).float()


def counts_from_scores(scores: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Inverse of `count_scores`: counts (B, C), long, between 0 and each stay's length."""
    lengths = lengths[:, None].to(scores.dtype)
    counts = torch.round(torch.special.ndtr(scores) * (lengths + 1) - 0.5)
    return torch.minimum(counts.clamp_min(0), lengths).long()


def measure_counted_steps(level_scores, counts, lengths) -> torch.Tensor:
    """Mask codes (B, T, C) with exactly ``counts[b, c]`` measured steps in each stay.

    Parameters
    ----------
    level_scores : Tensor of shape (B, T, C, V)
        How close each generated mask is to each level (`CategoryEmbedding.level_scores`):
        level 0 is "missing", the others "measured" (and "repeated").
    counts : LongTensor of shape (B, C)
    lengths : LongTensor of shape (B,)

    Returns
    -------
    LongTensor of shape (B, T, C)
        The `counts` steps inside the stay whose mask leans most to a measured level get
        their nearest measured level, every other step level 0.
    """
    measured = level_scores[..., 1:]
    lean = measured.amax(dim=-1) - level_scores[..., 0]
    steps = torch.arange(level_scores.shape[1], device=level_scores.device)
    inside = steps[None, :] < lengths[:, None]
    lean = lean.masked_fill(~inside[..., None], float("-inf"))
    rank = lean.argsort(dim=1, descending=True, stable=True).argsort(dim=1)
    chosen = rank < counts[:, None, :]
    return torch.where(chosen, measured.argmax(dim=-1) + 1, 0)
