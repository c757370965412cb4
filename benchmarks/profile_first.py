"""Profile-first probe: can a tabular diffusion model draw per-patient profiles that pass as real?

A hierarchical generator would draw each patient's *profile* first (per numeric variable: the
logit of its measured share, the mean and the log standard deviation of its normal scores),
then the stay given it. This probe measures the first stage alone: an EDM-preconditioned
residual MLP (adaLN blocks) trained on the profiles of 3,000 set-a patients for ``--seconds``,
sampled with Heun's method, snapped onto whole counts; a gradient-boosting classifier then
tells its profiles from those of 1,000 unseen patients (AUROC, 5-fold). With ``--model FILE``
the same classifier also scores the profiles of stays that a fitted CDMTSynthesizer generates,
the level the first stage has to beat. Writes ``benchmarks/results/profile_first.json``.

    python benchmarks/profile_first.py --seconds 600 --model M
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from torch import nn

from cdmtehr import CDMTSynthesizer
from cdmtehr.datasets import load_physionet2012
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.embeddings import FourierFeatures
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.preprocessing import SequencePreprocessor

RESULTS = Path(__file__).parent / "results"
SPREAD_FLOOR = 0.1


def split_by_patient(df, id_col, n_train, seed):
    ids = df[id_col].drop_duplicates().sample(frac=1.0, random_state=seed).to_numpy()
    train = df[df[id_col].isin(ids[:n_train])].reset_index(drop=True)
    test = df[df[id_col].isin(ids[n_train:])].reset_index(drop=True)
    return train, test


def profiles(tensors) -> torch.Tensor:
    """(N, 3K): logit measured share, mean and log sd of the measured scores per variable."""
    observed = tensors.observed & tensors.valid[..., None]
    length = tensors.valid.sum(1).clamp_min(1).float()[:, None]
    count = observed.sum(1).float()
    rate = torch.log((count + 0.5) / (length - count + 0.5))
    weight = observed.float()
    mean = (tensors.values * weight).sum(1) / count.clamp_min(1)
    var = (((tensors.values - mean[:, None]) * weight) ** 2).sum(1) / (count - 1).clamp_min(1)
    spread = torch.where(count > 1, torch.log(var.sqrt() + SPREAD_FLOOR), math.log(SPREAD_FLOOR))
    return torch.cat([rate, mean, spread], dim=1)


def snap(raw, length):
    """Generated profiles onto what a stay can have: whole counts, no level when unmeasured."""
    k = raw.shape[1] // 3
    rate, mean, spread = raw[:, :k], raw[:, k : 2 * k], raw[:, 2 * k :]
    odds = rate.exp()
    count = ((odds * (length + 0.5) - 0.5) / (1 + odds)).round().clamp(0, length)
    floor = math.log(SPREAD_FLOOR)
    return torch.cat(
        [
            torch.log((count + 0.5) / (length - count + 0.5)),
            torch.where(count > 0, mean, torch.zeros_like(mean)),
            torch.where(count > 1, spread.clamp_min(floor), torch.full_like(spread, floor)),
        ],
        dim=1,
    )


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.modulation = nn.Linear(width, 3 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.SiLU(), nn.Linear(2 * width, width))

    def forward(self, hidden, conditioning):
        scale, shift, gate = self.modulation(nn.functional.silu(conditioning)).chunk(3, -1)
        return hidden + (1 + gate) * self.mlp(self.norm(hidden) * (1 + scale) + shift)


class ProfileDenoiser(nn.Module):
    """D(x; sigma) = c_skip x + c_out F(c_in x) (Karras et al. 2022, sigma_data = 1)."""

    def __init__(self, size, width, depth):
        super().__init__()
        self.noise = nn.Sequential(FourierFeatures(64), nn.Linear(64, width), nn.SiLU(),
                                   nn.Linear(width, width))
        self.input = nn.Linear(size, width)
        self.blocks = nn.ModuleList([Block(width) for _ in range(depth)])
        self.output = nn.Linear(width, size)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, x, sigma):
        sigma = sigma.reshape(-1, 1).expand(len(x), 1)
        conditioning = self.noise(torch.log(sigma[:, 0]) / 4)
        hidden = self.input(x / torch.sqrt(sigma**2 + 1)) + conditioning
        for block in self.blocks:
            hidden = block(hidden, conditioning)
        return x / (sigma**2 + 1) + sigma / torch.sqrt(sigma**2 + 1) * self.output(hidden)


def train(model, data, seconds, generator, batch_size=256, learning_rate=1e-3):
    """EDM training (log-normal sigma, lambda weighting), cosine decay over the budget, EMA."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0)
    ema = copy.deepcopy(model).requires_grad_(False)
    start, step = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds:
        x0 = data[torch.randint(len(data), (batch_size,), generator=generator)]
        sigma = torch.exp(-1.2 + 1.2 * torch.randn(len(x0), 1, generator=generator))
        noisy = x0 + sigma * torch.randn(x0.shape, generator=generator)
        loss = ((sigma**2 + 1) / sigma**2 * (model(noisy, sigma) - x0) ** 2).mean()
        factor = min(1.0, (step + 1) / 100) * (0.1 + 0.45 * (1 + math.cos(math.pi * elapsed / seconds)))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * factor
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for averaged, current in zip(ema.parameters(), model.parameters()):
                averaged.lerp_(current, 1 - decay)
        step += 1
    return ema, step


@torch.inference_mode()
def sample(model, n, size, generator, steps=64, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """Heun's method on Karras et al.'s noise levels."""
    ramp = torch.linspace(0, 1, steps)
    sigmas = (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    sigmas = torch.cat([sigmas, torch.zeros(1)])
    x = torch.randn((n, size), generator=generator) * sigmas[0]
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        derivative = (x - model(x, sigma)) / sigma
        x_next = x + (sigma_next - sigma) * derivative
        if sigma_next > 0:
            correction = (x_next - model(x_next, sigma_next)) / sigma_next
            x_next = x + (sigma_next - sigma) * (derivative + correction) / 2
        x = x_next
    return x


def auroc(real, synthetic, seed=0):
    X = np.vstack([real, synthetic])
    y = np.r_[np.zeros(len(real)), np.ones(len(synthetic))]
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(HistGradientBoostingClassifier(max_iter=200, random_state=seed), X, y,
                          cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def scores(real, synthetic, k):
    groups = {"all": slice(0, 3 * k), "rate": slice(0, k), "level": slice(k, 2 * k),
              "spread": slice(2 * k, 3 * k)}
    return {name: auroc(real[:, cut], synthetic[:, cut]) for name, cut in groups.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="a fitted CDMTSynthesizer to score too")
    parser.add_argument("--output", default=str(RESULTS / "profile_first.json"))
    args = parser.parse_args(argv)

    df, roles = load_physionet2012(return_roles=True)
    train_frame, test_frame = split_by_patient(df, roles["id_col"], 3000, args.seed)
    preprocessor = SequencePreprocessor()
    cohort = preprocessor.fit_transform(train_frame, **roles)
    layout = StateLayout.from_cohort(cohort)
    real = profiles(CohortTensors.from_cohort(cohort, layout))
    unseen = profiles(CohortTensors.from_cohort(preprocessor.transform(test_frame), layout))
    center, scale = real.mean(0), real.std(0).clamp_min(1e-3)
    k = layout.n_values

    generator = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    model = ProfileDenoiser(real.shape[1], args.width, args.depth)
    ema, steps = train(model, (real - center) / scale, args.seconds, generator)
    drawn = snap(sample(ema, len(unseen), real.shape[1], generator) * scale + center,
                 float(cohort.max_length))
    result = {"seconds": args.seconds, "width": args.width, "depth": args.depth,
              "optimizer_steps": steps,
              "parameters": sum(p.numel() for p in model.parameters()),
              "profile_model": scores(unseen.numpy(), drawn.numpy(), k),
              "training_vs_unseen": scores(unseen.numpy(), real[: len(unseen)].numpy(), k)}
    if args.model:
        synth = CDMTSynthesizer.load(args.model)
        stays = synth.sample(len(unseen), random_state=args.seed)
        generated = synth.preprocessor_.transform(stays)
        stay_profiles = profiles(CohortTensors.from_cohort(generated, synth.layout_))
        result["stay_model"] = scores(unseen.numpy(), stay_profiles.numpy(), k)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2))
    print(f"profile model: {steps} optimizer steps in {args.seconds:.0f} s")  # noqa: T201
    for name in ("profile_model", "stay_model", "training_vs_unseen"):
        if name in result:
            row = ", ".join(f"{g} {v:.3f}" for g, v in result[name].items())
            print(f"{name:>20}: AUROC {row}")  # noqa: T201
    return result


if __name__ == "__main__":
    main()
