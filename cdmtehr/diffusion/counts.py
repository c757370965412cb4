"""Measurement counts: how often each channel is charted in a stay, as a static feature.

A charting order is one decision per stay (temperature every four hours, FiO2 hourly while
ventilated, never otherwise). Per-step observation masks generated side by side spread it:
with the right number of measurements on average, their count per stay comes out far too
varied (docs/benchmarks.md, *Session 7*). With ``measurement_counts``, the number of measured
steps of every masked channel is a static numeric feature of the patient, generated with the
rest (standardised per channel), and the masks are decoded to it: exactly that many steps, those whose generated mask
leans most to "measured".
"""

from __future__ import annotations

import numpy as np
import torch


def count_moments(observed, valid) -> tuple:
    """Per channel, the mean and sd of the measured share of a stay's steps, as a tuple of pairs.

    The sd is floored at half a measurement in a stay of ``T`` steps, so that a channel
    measured equally often in every stay still gets a finite score.

    Parameters
    ----------
    observed : bool ndarray of shape (N, T, C)
    valid : bool ndarray of shape (N, T)
    """
    share = (observed & valid[..., None]).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)[:, None]
    floor = 0.5 / max(valid.shape[1], 1)
    return tuple(
        (float(m), float(max(s, floor))) for m, s in zip(share.mean(axis=0), share.std(axis=0))
    )


def count_scores(observed: torch.Tensor, valid: torch.Tensor, moments) -> torch.Tensor:
    """Standardised measured shares of each channel in each stay, (N, C) float32.

    score = (count / length - mean) / sd with the training `moments` (`count_moments`), so
    that one measurement more or less moves a rarely measured lab by as much as a score of
    any other static column moves, and `counts_from_scores` inverts it exactly.

    Parameters
    ----------
    observed : bool Tensor of shape (N, T, C)
    valid : bool Tensor of shape (N, T)
    moments : sequence of (mean, sd) pairs, one per channel
    """
    mean, sd = torch.tensor(moments, dtype=torch.float64).T
    counts = (observed & valid[..., None]).sum(dim=1).double()
    lengths = valid.sum(dim=1, keepdim=True).double().clamp_min(1)
    return ((counts / lengths - mean) / sd).float()


def counts_from_scores(scores: torch.Tensor, lengths: torch.Tensor, moments) -> torch.Tensor:
    """Inverse of `count_scores`: counts (B, C), long, between 0 and each stay's length."""
    mean, sd = torch.tensor(moments, dtype=torch.float64, device=scores.device).T
    lengths = lengths[:, None].double()
    counts = torch.round((scores.double() * sd + mean) * lengths)
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
