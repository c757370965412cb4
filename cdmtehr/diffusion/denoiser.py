"""Denoiser D_theta: EDM preconditioning around the network, and score interpolation.

This is the only module where c_in, c_skip, c_out and c_noise appear. Everything outside talks
to ``denoiser(x, sigma, condition) -> denoised`` on flat states of shape (B, M).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .embeddings import CategoryEmbedding
from .layout import StateLayout
from ..profiles.stay import profile_width
from .masks import REPEATED_LEVEL
from .network import BiGRUNetwork, pool_along_time

SIGMA_DATA = 1.0  # numeric values are normal scores and embeddings have unit RMS


@dataclass(frozen=True, eq=False)
class DenoiserConfig:
    """Everything besides the layout that rebuilds a `Denoiser` (a model file stores it).

    Parameters
    ----------
    n_classes : int
        Condition classes (0 when unconditional); the null token has index ``n_classes``.
    temporal_frequencies, static_frequencies : list of ndarray
        Training marginal frequencies of each categorical feature (layout order), used to
        initialise logit biases and to calibrate cross-entropies by the marginal entropy.
    smoothing_scale : list of float
        Per temporal numeric value, the typical change between two of a stay's consecutive
        measurements (`numeric_step_scales`). The smoothing of the skip connection along time
        is damped by sigma^2 / (sigma^2 + scale^2), so that it fades once the noise is below
        the value's own changes.
    hidden_size : int
        GRU width per direction.
    num_layers : int
        Stacked bidirectional GRU layers.
    profile : bool
        Whether the network reads each patient's profile (`cdmtehr.profiles.stay`).
    """

    n_classes: int
    temporal_frequencies: list = field(repr=False)
    static_frequencies: list = field(repr=False)
    smoothing_scale: list = field(repr=False)
    hidden_size: int = 128
    num_layers: int = 1
    profile: bool = False


@dataclass
class DenoiserOutput:
    """What the loss needs from one evaluation of the denoiser."""

    denoised: torch.Tensor  # (B, M)
    temporal_values: torch.Tensor  # (B, T, Kn) denoised numeric values
    static_values: torch.Tensor  # (B, Sn)
    temporal_logits: torch.Tensor  # (B, T, n_logits), flat over the embedding groups
    static_logits: torch.Tensor  # (B, n_logits)


class Denoiser(nn.Module):
    """Preconditioned denoiser over the flat mixed-type state of a patient.

    Numeric numbers use EDM's preconditioning (Karras et al. 2022, Table 1, sigma_data = 1):
    D = c_skip x + c_out F(c_in x), c_skip = 1/(sigma^2+1), c_out = sigma/sqrt(sigma^2+1),
    c_in = 1/sqrt(sigma^2+1). Category embeddings get c_in only; their denoised value is the
    softmax-weighted mean of the embeddings (score interpolation, CDTD Sec. 3.2), so that a
    sampler can treat every number of the state alike.

    The skip connection of temporal numeric values is smoothed along time with weights the
    network chooses (see `_smoothing`).

    Parameters
    ----------
    layout : StateLayout
        Where each feature sits in the state.
    config : DenoiserConfig
        Condition classes, training marginals, smoothing scales and network size.
    """

    def __init__(self, layout: StateLayout, config: DenoiserConfig):
        super().__init__()
        self.layout = layout
        self.config = config
        self.n_classes = config.n_classes
        self.register_buffer(
            "smoothing_scale",
            torch.tensor(config.smoothing_scale, dtype=torch.float32).reshape(-1),
            persistent=False,
        )
        self.temporal_embedding = CategoryEmbedding(layout.temporal)
        self.static_embedding = CategoryEmbedding(layout.static)
        temporal, static = layout.temporal, layout.static
        temporal_frequencies = config.temporal_frequencies
        static_frequencies = config.static_frequencies
        self.network = BiGRUNetwork(
            temporal_in=temporal.width + temporal.n_features,
            static_in=static.width + static.n_features
            + (profile_width(layout) if config.profile else 0),
            temporal_out=temporal.n_numeric + self.temporal_embedding.n_logits,
            static_out=static.n_numeric + self.static_embedding.n_logits,
            max_length=layout.max_length,
            n_classes=config.n_classes,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            pooled_inputs=temporal.width,
            smoothed_features=temporal.n_numeric,
        )
        self._init_logit_bias(
            self.network.temporal_head.bias, temporal, temporal_frequencies, self.temporal_embedding
        )
        self._init_logit_bias(
            self.network.static_head[-1].bias, static, static_frequencies, self.static_embedding
        )
        self.register_buffer(
            "temporal_entropy", _entropies(temporal_frequencies), persistent=False
        )
        self.register_buffer("static_entropy", _entropies(static_frequencies), persistent=False)
        self.register_buffer(
            "dim_to_feature", torch.as_tensor(layout.dim_to_feature()), persistent=False
        )
        first_dim = np.zeros(layout.n_features, dtype=np.int64)
        dim_to_feature = layout.dim_to_feature()
        first_dim[dim_to_feature[::-1]] = np.arange(layout.size)[::-1]
        self.register_buffer("feature_first_dim", torch.as_tensor(first_dim), persistent=False)
        numeric = np.zeros(layout.size, dtype=bool)
        categorical_feature = layout.feature_is_categorical()
        numeric[~categorical_feature[dim_to_feature]] = True
        self.register_buffer("numeric_dims", torch.as_tensor(numeric), persistent=False)

    @staticmethod
    def _init_logit_bias(bias, block, frequencies, embedding):
        # Logit biases start at log marginal frequencies: the untrained model outputs the
        # marginals (CDTD). Padded levels of a group stay 0 (they are masked to -inf anyway).
        with torch.no_grad():
            start = block.n_numeric
            for group in block.groups:
                for position, feature in enumerate(group.feature_index):
                    freq = np.asarray(frequencies[feature - block.n_numeric], dtype=np.float64)
                    logits = np.log(np.clip(freq, 1e-4, None))
                    offset = start + position * group.max_levels
                    bias[offset : offset + len(freq)] = torch.as_tensor(logits, dtype=bias.dtype)
                start += group.n_features * group.max_levels

    # -- packing -------------------------------------------------------------------------------
    def clean_state(self, batch) -> torch.Tensor:
        """The clean flat state x0 (B, M) of a `CohortTensors` batch (embeddings keep grads)."""
        temporal = torch.cat(
            [batch.values, self.temporal_embedding.embed(batch.codes)], dim=-1
        ).flatten(1)
        static = torch.cat(
            [batch.static_values, self.static_embedding.embed(batch.static_codes)], dim=-1
        )
        return torch.cat([temporal, static], dim=-1)

    def split_state(self, state: torch.Tensor) -> tuple:
        """(temporal (..., T, Dt), static (..., Ds)) of flat states padded to any T steps."""
        layout = self.layout
        steps = layout.length_of(state.shape[-1])
        cut = steps * layout.temporal.width
        temporal = state[..., :cut].unflatten(-1, (steps, layout.temporal.width))
        return temporal, state[..., cut:]

    def _split_features(self, per_feature: torch.Tensor) -> tuple:
        layout = self.layout
        steps = layout.length_of(per_feature.shape[-1], per_feature=True)
        cut = steps * layout.temporal.n_features
        temporal = per_feature[..., :cut].unflatten(
            -1, (steps, layout.temporal.n_features)
        )
        return temporal, per_feature[..., cut:]

    def _indices(self, steps: int) -> tuple:
        """`dim_to_feature` and `feature_first_dim` of states padded to `steps` steps.

        A batch is padded only to its own longest stay: its state is the first `steps` rows
        of the temporal block, then the static block, whose indices shift back accordingly.
        """
        layout = self.layout
        if steps == layout.max_length:
            return self.dim_to_feature, self.feature_first_dim
        dropped = layout.max_length - steps
        temporal, features = layout.temporal.width, layout.temporal.n_features
        dims = torch.cat([
            self.dim_to_feature[: steps * temporal],
            self.dim_to_feature[layout.max_length * temporal :] - dropped * features,
        ])
        first_dims = torch.cat([
            self.feature_first_dim[: steps * features],
            self.feature_first_dim[layout.max_length * features :] - dropped * temporal,
        ])
        return dims, first_dims

    # -- evaluation ----------------------------------------------------------------------------
    def predict(self, x, sigma, condition, profile=None):
        """Evaluate D_theta and keep what the loss needs.

        Parameters
        ----------
        x : Tensor of shape (B, M)
            Noisy states.
        sigma : Tensor of shape (M,) or (B, M)
            Noise level of every number of the state (constant within a feature).
        condition : LongTensor of shape (B,)
            Class indices, ``n_classes`` for the null token.
        profile : Tensor of shape (B, profile_width), optional
            `profile_inputs` of each patient's profile; None (or a row of zeros) when it is
            not known. Ignored by a denoiser without profile inputs.

        Returns
        -------
        DenoiserOutput
        """
        sigma = sigma.expand_as(x).to(x.dtype)
        steps = self.layout.length_of(x.shape[-1])
        sigma_features = sigma[:, self._indices(steps)[1]]
        c_in = 1 / torch.sqrt(sigma**2 + SIGMA_DATA**2)
        c_noise = torch.log(sigma_features.clamp_min(1e-4)) / 4
        temporal_in, static_in = self.split_state(x * c_in)
        temporal_noise, static_noise = self._split_features(c_noise)
        static_parts = [static_in, static_noise]
        if self.config.profile:
            if profile is None:
                profile = x.new_zeros((x.shape[0], profile_width(self.layout)))
            static_parts.append(profile.to(x.dtype))
        temporal_out, static_out, skip_weights = self.network(
            torch.cat([temporal_in, temporal_noise], dim=-1),
            torch.cat(static_parts, dim=-1),
            c_noise.mean(dim=1),
            condition,
        )
        layout = self.layout
        n_values, n_static_values = layout.temporal.n_numeric, layout.static.n_numeric
        temporal_logits = temporal_out[..., n_values:]
        static_logits = static_out[..., n_static_values:]
        raw_numeric = torch.cat(
            [temporal_out[..., :n_values].flatten(1), static_out[..., :n_static_values]], dim=-1
        )

        # EDM preconditioning of the numeric numbers.
        x_temporal, x_static = self.split_state(x)
        sigma_temporal, sigma_static = self.split_state(sigma)
        x_values = x_temporal[..., :n_values]
        smoothed = self._smoothing(x_values, skip_weights, sigma_temporal[..., :n_values])
        x_values = x_values + smoothed
        x_numeric = torch.cat([x_values.flatten(1), x_static[..., :n_static_values]], -1)
        s_numeric = torch.cat(
            [sigma_temporal[..., :n_values].flatten(1), sigma_static[..., :n_static_values]], -1
        )
        c_skip = SIGMA_DATA**2 / (s_numeric**2 + SIGMA_DATA**2)
        c_out = s_numeric * SIGMA_DATA / torch.sqrt(s_numeric**2 + SIGMA_DATA**2)
        numeric = c_skip * x_numeric + c_out * raw_numeric
        cut = steps * n_values
        temporal_values = numeric[:, :cut].unflatten(-1, (steps, n_values))
        static_values = numeric[:, cut:]

        temporal = torch.cat(
            [temporal_values, self.temporal_embedding.interpolate(temporal_logits)], dim=-1
        )
        static = torch.cat([static_values, self.static_embedding.interpolate(static_logits)], -1)
        denoised = torch.cat([temporal.flatten(1), static], dim=-1)
        return DenoiserOutput(
            denoised, temporal_values, static_values, temporal_logits, static_logits
        )

    def _smoothing(self, values, weights, sigma) -> torch.Tensor:
        """sum_k w_k (A_k x - x): how far the skip connection moves toward the averages.

        The skip connection passes c_skip (x + sum_k w_k (A_k x - x)) instead of EDM's
        c_skip x, where A_k are the averages along time of `pool_along_time` (the stay, the
        past, the future) and w_k (B, T, K, Kn) come from the network, per step, damped by
        sigma^2 / (sigma^2 + scale^2). For a value that stays constant over a
        stay, the best guess at low noise is the average of its noisy copies, not the copy at
        hand; reaching it through F_theta alone would take outputs of order 1/sigma that
        cancel the noise of each step (EDM's c_skip tends to 1), which a short training does
        not learn. Here it is w = 1 on the stay average.
        """
        noise = sigma[:, :, None, :] ** 2
        weights = weights * noise / (noise + self.smoothing_scale**2).clamp_min(1e-12)
        # The network's pooled inputs average x * c_in, not x: c_in differs between steps
        # under the factorized schedule, so those averages cannot be reused here.
        averages = pool_along_time(values)
        moved = averages - values[:, :, None, :]
        return torch.einsum("btkn,btkn->btn", moved, weights.to(values.dtype))

    def forward(self, x, sigma, condition, profile=None):
        """Denoised states (B, M) for noisy states `x` at noise levels `sigma`."""
        return self.predict(x, sigma, condition, profile).denoised

    def expand_sigma(self, sigma_features: torch.Tensor) -> torch.Tensor:
        """Per-feature noise levels (..., n_features) to per-number levels (..., M), of states
        padded to any number of steps."""
        steps = self.layout.length_of(sigma_features.shape[-1], per_feature=True)
        return sigma_features[..., self._indices(steps)[0]]

    # -- decoding ------------------------------------------------------------------------------
    def level_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, n_categorical, V) similarity of each temporal categorical feature of states
        `x` (B, M) to each of its levels (`CategoryEmbedding.level_scores`)."""
        temporal, _ = self.split_state(x.float())
        return self.temporal_embedding.level_scores(temporal[..., self.layout.n_values :])

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> dict:
        """Turn final states (B, M) into numpy arrays of values, masks, codes and lengths."""
        return {name: value.cpu().numpy() for name, value in self.decoded_tensors(x).items()}

    @torch.no_grad()
    def decoded_tensors(self, x: torch.Tensor, codes=None) -> dict:
        """`decode` as tensors; `codes` (B, T, n_categorical), if given, are the temporal
        categorical codes (masks, categories, validity) to decode with instead of each
        feature's nearest level (`cdmtehr.profiles.conditioning.decode_keeping` gives the
        drawn counts)."""
        layout = self.layout
        temporal, static = self.split_state(x.float())
        n_values, n_masks = layout.n_values, len(layout.masked_values)
        n_static_numeric = layout.static.n_numeric
        if codes is None:
            codes = self.level_scores(x).argmax(-1)
        static_codes = self.static_embedding.decode(static[..., n_static_numeric:])
        if layout.has_validity:
            # A stay ends at its first invalid step; at least one step is kept.
            leading = torch.cumprod((codes[..., -1] == 1).long(), dim=1)
            lengths = leading.sum(dim=1).clamp_min(1)
        else:
            lengths = torch.full((x.shape[0],), temporal.shape[1], device=x.device)

        observed = torch.ones(temporal.shape[:2] + (n_values,), dtype=torch.bool, device=x.device)
        observed[..., list(layout.masked_values)] = codes[..., :n_masks] >= 1
        numeric = temporal[..., :n_values]
        if layout.repeated_values:
            numeric = _copy_repeats(numeric, observed, repeat_flags(codes, layout))
        categorical = codes[..., n_masks : n_masks + layout.n_temporal_categorical]
        n_static_masks = len(layout.masked_static_values)
        static_observed = torch.ones(
            (x.shape[0], layout.n_static_values), dtype=torch.bool, device=x.device
        )
        static_masks = static_codes[:, :n_static_masks] == 1
        static_observed[:, list(layout.masked_static_values)] = static_masks
        n_static_columns = n_static_masks + layout.n_static_categorical
        return {
            "numeric": numeric,
            "observed": observed,
            "categorical": categorical,
            "static_numeric": static[..., : layout.n_static_values],
            "static_observed": static_observed,
            "static_categorical": static_codes[:, n_static_masks:n_static_columns],
            "lengths": lengths,
        }


def _entropies(frequencies) -> torch.Tensor:
    """Entropy of each marginal, clamped at 0.05 so near-constant features cannot blow up."""
    values = []
    for freq in frequencies:
        p = np.asarray(freq, dtype=np.float64)
        p = p[p > 0]
        values.append(max(float(-(p * np.log(p)).sum()), 0.05))
    return torch.tensor(values, dtype=torch.float32)


def repeat_flags(codes, layout: StateLayout) -> torch.Tensor:
    """(B, T, n_values) bool: the temporal numeric values whose mask says "repeated".

    `codes` are temporal categorical codes in layout order (masks first); values without the
    third mask level are never flagged.
    """
    flags = torch.zeros(
        codes.shape[:2] + (layout.n_values,), dtype=torch.bool, device=codes.device
    )
    columns = [layout.masked_values.index(k) for k in layout.repeated_values]
    flags[..., list(layout.repeated_values)] = codes[..., columns] == REPEATED_LEVEL
    return flags


def _copy_repeats(values, observed, repeated) -> torch.Tensor:
    """Values (B, T, K) where each repeated measurement copies the stay's previous one.

    A measurement flagged repeated takes the value of the latest unflagged measurement
    before it (so a run of repeats holds one value); the first measurement of a stay has
    nothing to repeat and keeps its own value.
    """
    steps = torch.arange(values.shape[1], device=values.device)[None, :, None]
    earlier = torch.cummax(torch.where(observed, steps, -1), dim=1).values
    earlier = torch.cat([torch.full_like(earlier[:, :1], -1), earlier[:, :-1]], dim=1)
    copies = observed & repeated & (earlier >= 0)
    anchors = observed & ~copies
    source = torch.cummax(torch.where(anchors, steps, -1), dim=1).values
    copied = torch.gather(values, 1, source.clamp_min(0))
    return torch.where(copies, copied, values)
