"""BiGRUNetwork: the raw network F_theta (no diffusion maths here; see denoiser.py)."""

from __future__ import annotations

import torch
from torch import nn

from .embeddings import FourierFeatures


class _FiLM(nn.Module):
    """Feature-wise affine modulation h (1 + scale) + shift from a conditioning vector."""

    def __init__(self, conditioning_size: int, size: int):
        super().__init__()
        self.linear = nn.Linear(conditioning_size, 2 * size)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
        scale, shift = self.linear(nn.functional.silu(conditioning)).chunk(2, dim=-1)
        if hidden.dim() == 3:
            scale, shift = scale[:, None, :], shift[:, None, :]
        return hidden * (1 + scale) + shift


class BiGRUNetwork(nn.Module):
    """Bidirectional GRU over time steps with noise, condition and static inputs.

    Follows TimeDiff's BRNN (Tian et al. 2024: input projection, multi-layer bidirectional RNN,
    FiLM with the noise embedding, linear head) as CDMT-EHR's abstract names it, plus a static
    head that pools the sequence for per-patient features.

    Parameters
    ----------
    temporal_in : int
        Inputs per time step (scaled state and per-feature noise channels).
    static_in : int
        Per-patient inputs (scaled static state and its noise channels).
    temporal_out : int
        Outputs per time step (numeric values and category logits).
    static_out : int
        Per-patient outputs.
    max_length : int
        T, for the learned position embedding.
    n_classes : int
        Condition classes; index ``n_classes`` is the null token of classifier-free guidance.
    hidden_size : int, default=128
        GRU width per direction.
    num_layers : int, default=2
        Stacked GRU layers.
    dropout : float, default=0.0
        Dropout between GRU layers.
    """

    def __init__(
        self,
        temporal_in: int,
        static_in: int,
        temporal_out: int,
        static_out: int,
        max_length: int,
        n_classes: int,
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        hidden = hidden_size
        self.noise_embedding = nn.Sequential(
            FourierFeatures(64), nn.Linear(64, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.condition_embedding = nn.Embedding(n_classes + 1, hidden)
        self.static_projection = nn.Linear(static_in, hidden)
        self.input_projection = nn.Linear(temporal_in, hidden)
        self.position_embedding = nn.Parameter(torch.zeros(max_length, hidden))
        self.input_film = _FiLM(hidden, hidden)
        self.gru = nn.GRU(
            hidden,
            hidden,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_norm = nn.LayerNorm(2 * hidden)
        self.output_film = _FiLM(hidden, 2 * hidden)
        self.temporal_head = nn.Linear(2 * hidden, temporal_out)
        # Static outputs read the sequence pooled (mean and max over steps) and the conditioning.
        self.static_head = nn.Sequential(
            nn.Linear(5 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, static_out)
        )
        # Zero heads: the untrained denoiser returns c_skip x and the logit biases (EDM, CDTD).
        for head in (self.temporal_head, self.static_head[-1]):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, temporal, static, noise_level, condition):
        """Run F_theta.

        Parameters
        ----------
        temporal : Tensor of shape (B, T, temporal_in)
        static : Tensor of shape (B, static_in)
        noise_level : Tensor of shape (B,)
            A scalar summary of the noise (mean c_noise over features).
        condition : LongTensor of shape (B,)
            Class index, or ``n_classes`` for the null token.

        Returns
        -------
        temporal_out : Tensor of shape (B, T, temporal_out)
        static_out : Tensor of shape (B, static_out)
        """
        conditioning = self.noise_embedding(noise_level) + self.condition_embedding(condition)
        conditioning = conditioning + self.static_projection(static)
        hidden = self.input_projection(temporal) + self.position_embedding
        hidden = self.input_film(nn.functional.silu(hidden), conditioning)
        hidden, _ = self.gru(hidden)
        hidden = self.output_film(self.output_norm(hidden), conditioning)
        pooled = torch.cat([hidden.mean(dim=1), hidden.amax(dim=1), conditioning], dim=-1)
        return self.temporal_head(hidden), self.static_head(pooled)
