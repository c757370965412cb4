"""Backbone probe: the default BiGRU denoiser network against a transformer over time.

Swaps the network inside the denoiser (same inputs: the noisy state, its averages along time
and the statics at every step; same heads: values, logits, smoothed-skip weights, statics) for

* ``transformer``: ``--layers`` adaLN-Zero blocks (Peebles & Xie 2023, DiT) of multi-head
  self-attention over the stay's time steps and a per-step MLP, every block modulated by the
  noise level, the condition and the statics;
* ``hybrid``: the same blocks after a bidirectional GRU of the same width;

fits ``CDMTSynthesizer`` with its defaults otherwise on the headline split (3,000 set-a
patients), for ``--seconds`` of training or ``--epochs`` passes (step-bounded runs compare
backbones on a machine shared with other work), samples 1,000 patients at 50 Euler steps and
scores them as the *Design choices* pairs of docs/benchmarks.md are scored (summary and
sequence discriminators against the training patients, KS, missing-rate error, median
within-stay spread ratio against the unseen patients). Writes
``benchmarks/results/backbone_probe_<backbone>.json``.

    python benchmarks/backbone_probe.py --backbone bigru --epochs 85 --no-profile \
        --save-model benchmarks/results/models/default_85epochs.cdmt
    python benchmarks/backbone_probe.py --backbone transformer --layers 2 --epochs 72 --no-profile
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

import _common as C
import cdmtehr.diffusion.denoiser as denoiser_module
from cdmtehr import CDMTSynthesizer
from cdmtehr.diffusion.embeddings import FourierFeatures
from cdmtehr.diffusion.network import N_KERNELS, FiLM, empty_safe_linear, pool_along_time


class AdaLNBlock(nn.Module):
    """Self-attention over time and a per-step MLP, each scaled, shifted and gated by the
    conditioning vector (adaLN-Zero: the gates start at 0, so a new block starts as identity)."""

    def __init__(self, width: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.qkv = nn.Linear(width, 3 * width)
        self.attention_out = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(approximate="tanh"),
                                 nn.Linear(mlp_ratio * width, width))
        self.modulation = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, hidden, conditioning):
        modulation = self.modulation(F.silu(conditioning))[:, None, :]
        shift1, scale1, gate1, shift2, scale2, gate2 = modulation.chunk(6, dim=-1)
        x = self.attention_norm(hidden) * (1 + scale1) + shift1
        batch, length, width = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, width // self.heads).permute(
            2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, length, width)
        hidden = hidden + gate1 * self.attention_out(x)
        x = self.mlp_norm(hidden) * (1 + scale2) + shift2
        return hidden + gate2 * self.mlp(x)


def network_class(backbone: str, layers: int, heads: int, mlp_ratio: int):
    """A network class with `BiGRUNetwork`'s constructor and outputs."""

    class AttentionNetwork(nn.Module):
        def __init__(self, temporal_in, static_in, temporal_out, static_out, max_length,
                     n_classes, hidden_size=128, num_layers=1, dropout=0.0, *, pooled_inputs,
                     smoothed_features):
            super().__init__()
            width = hidden_size
            self.pooled_inputs, self.smoothed_features = pooled_inputs, smoothed_features
            temporal_in += N_KERNELS * pooled_inputs + static_in
            self.noise_embedding = nn.Sequential(FourierFeatures(64), nn.Linear(64, width),
                                                 nn.SiLU(), nn.Linear(width, width))
            self.condition_embedding = nn.Embedding(n_classes + 1, width)
            self.static_projection = empty_safe_linear(static_in, width)
            self.input_projection = nn.Linear(temporal_in, width)
            self.position_embedding = nn.Parameter(0.02 * torch.randn(max_length, width))
            self.gru = None
            if backbone == "hybrid":
                self.gru = nn.GRU(width, width, batch_first=True, bidirectional=True)
                self.gru_out = nn.Linear(2 * width, width)
            self.blocks = nn.ModuleList(AdaLNBlock(width, heads, mlp_ratio)
                                        for _ in range(layers))
            self.output_norm = nn.LayerNorm(width, elementwise_affine=False)
            self.output_film = FiLM(width, width)
            self.skip_weights = empty_safe_linear(width, N_KERNELS * smoothed_features)
            self.temporal_head = empty_safe_linear(width, temporal_out)
            self.static_head = nn.Sequential(nn.Linear(3 * width, width), nn.SiLU(),
                                             empty_safe_linear(width, static_out))
            for head in (self.skip_weights, self.temporal_head, self.static_head[-1]):
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)

        def forward(self, temporal, static, noise_level, condition):
            conditioning = (self.noise_embedding(noise_level)
                            + self.condition_embedding(condition) + self.static_projection(static))
            pooled = pool_along_time(temporal[..., : self.pooled_inputs])
            steps = static[:, None, :].expand(-1, temporal.shape[1], -1)
            x = torch.cat([temporal, pooled.flatten(2), steps], dim=-1)
            hidden = self.input_projection(x) + self.position_embedding[: x.shape[1]]
            if self.gru is not None:
                hidden = hidden + self.gru_out(self.gru(F.silu(hidden))[0])
            for block in self.blocks:
                hidden = block(hidden, conditioning)
            hidden = self.output_film(self.output_norm(hidden), conditioning)
            summary = torch.cat([hidden.mean(dim=1), hidden.amax(dim=1), conditioning], dim=-1)
            skip_weights = self.skip_weights(hidden).unflatten(
                -1, (N_KERNELS, self.smoothed_features))
            return self.temporal_head(hidden), self.static_head(summary), skip_weights

    return AttentionNetwork


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", choices=("bigru", "transformer", "hybrid"),
                        default="bigru")
    parser.add_argument("--layers", type=int, default=2, help="attention blocks")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--mlp-ratio", type=int, default=2)
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--seconds", type=float, help="training budget (max_time)")
    budget.add_argument("--epochs", type=int, help="training budget in passes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-n", type=int, default=1000, help="synthetic patients scored")
    parser.add_argument("--output", default=None, help="JSON path")
    parser.add_argument("--no-profile", action="store_true",
                        help="the single-stage model (profile=False), as the table's rows")
    parser.add_argument("--save-model", default=None, metavar="FILE",
                        help="write the fitted model here (the default backbone only)")
    args = parser.parse_args(argv)

    if args.backbone != "bigru":
        denoiser_module.BiGRUNetwork = network_class(args.backbone, args.layers, args.heads,
                                                     args.mlp_ratio)
    train, test, roles = C.load_split(False, 0)
    synth = CDMTSynthesizer(max_time=args.seconds if args.epochs is None else None,
                            epochs=args.epochs, random_state=args.seed,
                            profile=not args.no_profile)
    start = time.perf_counter()
    synth.fit(train, **roles)
    fit_seconds = time.perf_counter() - start
    if args.save_model and args.backbone == "bigru":
        synth.save(args.save_model)
    last = synth.history_[-1]
    start = time.perf_counter()
    synthetic = synth.sample(args.n, steps=50, sampler="euler", random_state=args.seed)
    sample_ms = (time.perf_counter() - start) / args.n * 1000
    scores, spread = C.fidelity_and_spread(train, test, synthetic, roles, args.seed)
    row = {
        "backbone": args.backbone,
        "profile": not args.no_profile,
        "layers": args.layers if args.backbone != "bigru" else None,
        "parameters": sum(p.numel() for p in synth.model_.parameters()),
        "optimizer_steps": int(last["steps"]),
        "training_seconds": float(last["seconds"]),
        "seconds_per_step": float(last["seconds"]) / max(int(last["steps"]), 1),
        "sample_ms_per_patient": sample_ms,
        "summary_auroc": scores["disc_summary_auroc"],
        "sequence_auroc": scores["disc_sequence_auroc"],
        "ks_mean": scores["ks_mean"],
        "missing_rate_diff": scores["missing_rate_diff"],
        "spread_ratio_median": float(spread["ratio"].dropna().median()),
        "fit_seconds": fit_seconds,
    }
    result = {"command": C.command(argv), "machine": C.machine(), "result": row}
    path = args.output or C.RESULTS / f"backbone_probe_{args.backbone}.json"
    with open(path, "w") as f:
        json.dump(C.to_jsonable(result), f, indent=2)
    print(json.dumps(C.to_jsonable(row), indent=1))


if __name__ == "__main__":
    main()
