"""BiGRUNetwork: the raw network F_theta (no diffusion maths here; see denoiser.py)."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from .embeddings import FourierFeatures
from .unrolled_gru import unrolled_gru

# Half-life in time steps of the two exponential averages (forward and backward in time) that
# the network reads next to the mean over the stay.
POOLING_HALF_LIFE = 4.0


N_KERNELS = 3  # the stay, the past and the future
# Steps per block of `pool_along_time`: within a block a (block x block) kernel, across blocks
# a recurrence, so that memory is linear in the length of the stay.
_POOLING_BLOCK = 64


def pooling_kernels(length: int, half_life: float = POOLING_HALF_LIFE) -> torch.Tensor:
    """Averaging kernels along time, shape (3, T, T), each row summing to 1.

    Row t of a kernel gives the weights of steps s in an average seen from step t: the first
    kernel is the mean over all T steps (the stay), the second an exponential average of steps
    s <= t (the past) and the third one of steps s >= t (the future), with a half-life of
    `half_life` steps. The dense form of what `pool_along_time` computes in O(T) memory; used
    for short blocks and as the reference of its tests.
    """
    steps = torch.arange(length, dtype=torch.float64)
    lag = steps[:, None] - steps[None, :]  # t - s
    decay = torch.pow(0.5, lag.abs() / half_life)
    stay = torch.ones(length, length, dtype=torch.float64)
    past = torch.where(lag >= 0, decay, 0.0)
    future = torch.where(lag <= 0, decay, 0.0)
    kernels = torch.stack([stay, past, future])
    return (kernels / kernels.sum(dim=-1, keepdim=True)).float()


def _discounted_sums(x: torch.Tensor, ratio: float) -> torch.Tensor:
    """sum_{s <= t} ratio^(t - s) x_s along dim 1 of x (B, T, P), in O(B T P) memory.

    Blocks of `_POOLING_BLOCK` steps: a small lower-triangular kernel within each block, and
    the recurrence S_t = ratio^(i + 1) S_(start - 1) + (sum within the block) across blocks.
    """
    batch, length, width = x.shape
    block = min(_POOLING_BLOCK, max(length, 1))
    n_blocks = -(-length // block)
    padded = nn.functional.pad(x, (0, 0, 0, n_blocks * block - length))
    lag = torch.arange(block, dtype=torch.float64)
    lag = lag[:, None] - lag[None, :]
    kernel = torch.where(lag >= 0, ratio ** lag.clamp_min(0), 0.0).to(x.dtype).to(x.device)
    local = torch.einsum("ts,bnsp->bntp", kernel, padded.view(batch, n_blocks, block, width))
    carry_weight = (ratio ** torch.arange(1, block + 1, dtype=torch.float64)).to(x)[:, None]
    out, carry = [], x.new_zeros(batch, 1, width)
    for n in range(n_blocks):
        sums = local[:, n] + carry_weight * carry
        out.append(sums)
        carry = sums[:, -1:]
    return torch.cat(out, dim=1)[:, :length]


def pool_along_time(x: torch.Tensor, half_life: float = POOLING_HALF_LIFE) -> torch.Tensor:
    """The averages of `pooling_kernels` applied to x (B, T, P): shape (B, T, 3, P).

    Equal to ``einsum("kts,bsp->btkp", pooling_kernels(T), x)`` up to round-off, without any
    T x T tensor: the mean is a sum, the exponential averages are recurrences (memory and
    time linear in T, so one stay of 10,000 steps costs what 200 stays of 50 do).
    """
    length = x.shape[1]
    ratio = 0.5 ** (1.0 / half_life)
    stay = x.mean(dim=1, keepdim=True).expand(-1, length, -1)
    past = _discounted_sums(x, ratio)
    future = _discounted_sums(x.flip(1), ratio).flip(1)
    # Sum of the weights seen from step t: (1 - r^(t + 1)) / (1 - r) back, (1 - r^(T - t)) ahead.
    t = torch.arange(length, dtype=torch.float64)
    past_norm = (1 - ratio ** (t + 1)) / (1 - ratio)
    future_norm = (1 - ratio ** (length - t)) / (1 - ratio)
    past = past / past_norm.to(x)[:, None]
    future = future / future_norm.to(x)[:, None]
    return torch.stack([stay, past, future], dim=2)


def empty_safe_linear(n_in: int, n_out: int) -> nn.Linear:
    """`nn.Linear`, also for an empty block (no static columns, no numeric values).

    Such a layer keeps its place in the model file (its bias may still be trained), but its
    empty weight has nothing to initialise, and torch's warning about that is no news to users.
    """
    if n_in and n_out:
        return nn.Linear(n_in, n_out)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Initializing zero-element tensors")
        return nn.Linear(n_in, n_out)


class FiLM(nn.Module):
    """Feature-wise affine modulation h (1 + scale) + shift from a conditioning vector.

    Its weights start at zero, so that it starts as the identity.
    """

    def __init__(self, conditioning_size: int, size: int):
        super().__init__()
        self.linear = nn.Linear(conditioning_size, 2 * size)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
        """Modulate `hidden` (B, H) or (B, L, H) by `conditioning` (B, C), alike at every step."""
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
        T, for the learned position embedding (shorter inputs use its first steps).
    n_classes : int
        Condition classes; index ``n_classes`` is the null token of classifier-free guidance.
    hidden_size : int, default=128
        GRU width per direction.
    num_layers : int, default=2
        Stacked GRU layers.
    dropout : float, default=0.0
        Dropout between GRU layers.
    pooled_inputs : int
        The first `pooled_inputs` temporal inputs (the scaled state) are also averaged along
        time by `pool_along_time` and fed to the GRU next to the raw inputs.
    smoothed_features : int
        Numeric features (first among the temporal inputs) whose skip connection the denoiser
        smooths along time: the network also returns, per step, one weight per kernel and
        feature (see `Denoiser.predict`).

    The static inputs are also fed next to every time step, not only through the FiLM
    conditioning, so that a temporal value that copies a static one (the weight charted at
    admission) can be read off directly.
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
        *,
        pooled_inputs: int,
        smoothed_features: int,
    ):
        super().__init__()
        hidden = hidden_size
        self.pooled_inputs = pooled_inputs
        self.smoothed_features = smoothed_features
        n_kernels = N_KERNELS
        temporal_in += n_kernels * pooled_inputs + static_in
        # Zero: the untrained denoiser keeps EDM's plain skip connection.
        self.skip_weights = empty_safe_linear(2 * hidden, n_kernels * smoothed_features)
        nn.init.zeros_(self.skip_weights.weight)
        nn.init.zeros_(self.skip_weights.bias)
        self.noise_embedding = nn.Sequential(
            FourierFeatures(64), nn.Linear(64, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.condition_embedding = nn.Embedding(n_classes + 1, hidden)
        self.static_projection = empty_safe_linear(static_in, hidden)
        self.input_projection = nn.Linear(temporal_in, hidden)
        self.position_embedding = nn.Parameter(torch.zeros(max_length, hidden))
        self.input_film = FiLM(hidden, hidden)
        self.gru = nn.GRU(
            hidden,
            hidden,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        # True while differentially private training takes per-patient gradients (vmap).
        self.unrolled = False
        self.output_norm = nn.LayerNorm(2 * hidden)
        self.output_film = FiLM(hidden, 2 * hidden)
        self.temporal_head = empty_safe_linear(2 * hidden, temporal_out)
        # Static outputs read the sequence pooled (mean and max over steps) and the conditioning.
        self.static_head = nn.Sequential(
            nn.Linear(5 * hidden, hidden), nn.SiLU(), empty_safe_linear(hidden, static_out)
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
        skip_weights : Tensor of shape (B, T, n_kernels, smoothed_features)
            Weight of each kernel's average in the smoothed skip connection of each feature.
        """
        conditioning = self.noise_embedding(noise_level) + self.condition_embedding(condition)
        conditioning = conditioning + self.static_projection(static)
        # (B, T, P) -> (B, T, K, P): every average seen from every step.
        pooled = pool_along_time(temporal[..., : self.pooled_inputs])
        steps = static[:, None, :].expand(-1, temporal.shape[1], -1)
        temporal = torch.cat([temporal, pooled.flatten(2), steps], dim=-1)
        hidden = self.input_projection(temporal) + self.position_embedding[: temporal.shape[1]]
        hidden = self.input_film(nn.functional.silu(hidden), conditioning)
        unrolled = getattr(self, "unrolled", False)  # absent from pickles of older versions
        hidden = unrolled_gru(self.gru, hidden) if unrolled else self.gru(hidden)[0]
        hidden = self.output_film(self.output_norm(hidden), conditioning)
        summary = torch.cat([hidden.mean(dim=1), hidden.amax(dim=1), conditioning], dim=-1)
        # Per step, from the sequence: a value may hold still for a day, then jump.
        skip_weights = self.skip_weights(hidden).unflatten(
            -1, (N_KERNELS, self.smoothed_features)
        )
        return self.temporal_head(hidden), self.static_head(summary), skip_weights
