"""Learnable category embeddings, score interpolation, and noise-level Fourier features."""

from __future__ import annotations

import math

import torch
from torch import nn

from .layout import BlockLayout


class CategoryEmbedding(nn.Module):
    """Learnable embeddings of the categorical features of one block.

    Each level of feature j is a vector in R^d, L2-normalised and scaled to norm sqrt(d) so
    that every coordinate has unit scale (sigma_data = 1) and the cross-entropy loss can neither
    collapse nor blow the embeddings up (Mueller et al. 2025, CDTD, Sec. 3.1).

    Parameters
    ----------
    layout : BlockLayout
        The block whose categorical features are embedded.
    """

    def __init__(self, layout: BlockLayout):
        super().__init__()
        self.layout = layout
        self.tables = nn.ParameterList(
            nn.Parameter(torch.randn(g.n_features, g.max_levels, g.dim) * 1e-3)
            for g in layout.groups
        )
        self._members = [
            [j - layout.n_numeric for j in g.feature_index] for g in layout.groups
        ]
        for index, group in enumerate(layout.groups):
            levels = torch.as_tensor(group.levels)
            valid = torch.arange(group.max_levels)[None, :] < levels[:, None]
            self.register_buffer(f"_valid_{index}", valid, persistent=False)

    @property
    def n_logits(self) -> int:
        """Width of the logit vector the network must output for this block."""
        return sum(g.n_features * g.max_levels for g in self.layout.groups)

    def _valid(self, index: int) -> torch.Tensor:
        return getattr(self, f"_valid_{index}")

    def normalized_tables(self) -> list:
        """The embedding tables, each (F, V, d), rows normalised to norm sqrt(d)."""
        return [
            nn.functional.normalize(table, dim=-1) * math.sqrt(table.shape[-1])
            for table in self.tables
        ]

    def embed(self, codes: torch.Tensor, tables=None) -> torch.Tensor:
        """Embed codes (..., n_categorical) into the block's categorical numbers (..., width)."""
        tables = self.normalized_tables() if tables is None else tables
        parts = []
        for table, members in zip(tables, self._members):
            # One-hot products rather than a gather: the gather's backward accumulates in a
            # thread-dependent order, which would break bit-identical training under a seed.
            # A comparison rather than `one_hot`, whose range check `vmap` cannot run.
            levels = torch.arange(table.shape[1], device=codes.device)
            one_hot = (codes[..., members, None] == levels).to(table.dtype)
            parts.append(torch.einsum("...fv,fvd->...fd", one_hot, table).flatten(-2))
        return torch.cat(parts, dim=-1) if parts else codes.new_zeros(codes.shape[:-1] + (0,))

    def split_logits(self, logits: torch.Tensor) -> list:
        """Split flat logits (..., n_logits) into per-group (..., F, V) with invalid levels at -inf."""
        groups, start = [], 0
        for index, group in enumerate(self.layout.groups):
            size = group.n_features * group.max_levels
            chunk = logits[..., start : start + size].unflatten(-1, (group.n_features, -1))
            groups.append(chunk.masked_fill(~self._valid(index), float("-inf")))
            start += size
        return groups

    def interpolate(self, logits: torch.Tensor, tables=None) -> torch.Tensor:
        """Score interpolation: the expected embedding under softmax(logits), (..., width).

        Dieleman et al. (2022), CDCD, Sec. 3; used as the denoised categorical value in the ODE.
        `logits` is the flat (..., n_logits) output of the network.
        """
        if not self.layout.groups:
            return logits.new_zeros(logits.shape[:-1] + (0,))
        tables = self.normalized_tables() if tables is None else tables
        parts = [
            torch.einsum("...fv,fvd->...fd", torch.softmax(lg, dim=-1), table).flatten(-2)
            for lg, table in zip(self.split_logits(logits), tables)
        ]
        return torch.cat(parts, dim=-1)

    def cross_entropy(self, logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Per-feature cross-entropy (..., n_categorical), in categorical-feature order."""
        out = codes.new_zeros(codes.shape, dtype=logits.dtype)
        for lg, members in zip(self.split_logits(logits), self._members):
            log_probs = torch.log_softmax(lg, dim=-1)
            target = codes[..., members].long().unsqueeze(-1)  # stored compactly
            out[..., members] = -log_probs.gather(-1, target).squeeze(-1)
        return out

    def level_scores(self, values: torch.Tensor, tables=None) -> torch.Tensor:
        """Similarity of each embedded feature to each of its levels' embeddings.

        (..., width) -> (..., n_categorical, V), V the largest vocabulary of the block: the dot
        product with every level's (normalised) embedding, -inf past a feature's own levels.
        """
        tables = self.normalized_tables() if tables is None else tables
        n_levels = max((g.max_levels for g in self.layout.groups), default=1)
        out = values.new_full(
            values.shape[:-1] + (self.layout.n_categorical, n_levels), float("-inf")
        )
        start = 0
        for index, (table, members) in enumerate(zip(tables, self._members)):
            width = table.shape[0] * table.shape[2]
            chunk = values[..., start : start + width].unflatten(-1, (table.shape[0], -1))
            scores = torch.einsum("...fd,fvd->...fv", chunk.to(table.dtype), table)
            scores = scores.masked_fill(~self._valid(index), float("-inf"))
            out[..., members, : scores.shape[-1]] = scores.to(out.dtype)
            start += width
        return out

    def decode(self, values: torch.Tensor, tables=None) -> torch.Tensor:
        """Nearest level of each embedded feature, (..., width) -> codes (..., n_categorical).

        All levels have the same norm, so the nearest is the one of largest dot product.
        """
        return self.level_scores(values, tables).argmax(-1)


class FourierFeatures(nn.Module):
    """Sinusoidal features of a scalar noise level (Tancik et al. 2020; EDM's noise embedding).

    Parameters
    ----------
    size : int
        Output width (even).
    """

    def __init__(self, size: int):
        super().__init__()
        half = size // 2
        frequencies = torch.exp(-math.log(1e4) * torch.arange(half) / max(half - 1, 1))
        self.register_buffer("frequencies", frequencies * 100.0, persistent=False)

    def forward(self, noise_level: torch.Tensor) -> torch.Tensor:
        """Map (B,) noise levels to (B, size) features."""
        angles = noise_level[:, None] * self.frequencies[None, :]
        return torch.cat([angles.cos(), angles.sin()], dim=-1)
