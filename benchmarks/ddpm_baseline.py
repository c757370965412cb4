"""Discrete-time DDPM baseline (TimeDiff-style) on cdmtehr's backbone.

The baseline differs from cdmtehr in the diffusion *time* alone. It keeps cdmtehr's data layer
(`SequencePreprocessor`), state (`StateLayout`, `CohortTensors`), network and loss (the same
`Denoiser`: EDM preconditioning around the bidirectional GRU, category embeddings, masks
and validity flags as binary categories, classifier-free guidance dropout), and replaces

* the continuous diffusion time u in [0, 1] with the 1,000 discrete steps t = 1..1000 of
  DDPM (Ho et al. 2020) under the cosine schedule of Nichol & Dhariwal (2021),
* the learned per-feature noise schedule with one noise level for all features, and
* the 50-step ODE sampler with 1,000 ancestral DDPM steps.

The loss is cdmtehr's, with cdmtehr's default numeric weighting (read from
`CDMTSynthesizer`; "uniform", CDTD's plain squared error of the denoised value, since the
tuning runs). DDPM's own L_simple, the squared error of the predicted noise, is in VE terms
the squared error of the denoised value divided by sigma^2, close to ``loss_weighting="edm"``
((sigma^2 + 1) / sigma^2); pass that setting to train the baseline the DDPM way.

DDPM in the VE form our Denoiser expects
----------------------------------------
DDPM noises a clean state as x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps (variance
preserving). Dividing by sqrt(abar_t) gives

    x_t / sqrt(abar_t) = x0 + sigma_t eps,   sigma_t = sqrt((1 - abar_t) / abar_t),

which is exactly the variance-exploding corruption x0 + sigma eps of cdmtehr. So a DDPM is a VE
model trained on the 1,000 noise levels sigma_1 < ... < sigma_1000 only; the Denoiser (which
sees sigma, not t) needs no change. Training draws t uniformly from {1..1000} (through
`DiscreteCosineSchedule.sigma(u)`, the same sigma for every feature, no learnable part, so its
`loss` is 0 like `EDMSchedule`'s), and `cdmtehr.diffusion.training.train` does the rest.

Sampling: DDPM's ancestral step draws x_{t-1} from the posterior q(x_{t-1} | x_t, x0 = D)
with D the denoiser's estimate of x0 and variance beta~_t = (1 - abar_{t-1}) / (1 - abar_t)
beta_t. In VE form (s = sigma_t, s' = sigma_{t-1}) that posterior is

    mean = D + (s'^2 / s^2) (x - D),   variance = s'^2 (s^2 - s'^2) / s^2

(divide Ho et al.'s mu~_t and beta~_t by sqrt(abar_{t-1}) and abar_{t-1}: the coefficient of
x_t becomes abar_t (1 - abar_{t-1}) / (abar_{t-1} (1 - abar_t)) = s'^2 / s^2, that of x0 is
beta_t / (1 - abar_t) = 1 - s'^2 / s^2, and abar_{t-1} beta~_t = s'^2 (s^2 - s'^2) / s^2).
`cdmtehr.sampling.sample_sde` with eta = 1 takes, per step, sigma_up^2 = s'^2 (s^2 - s'^2) / s^2
and sigma_down^2 = s'^2 - sigma_up^2 = s'^4 / s^2, moves to
x + (sigma_down - s)(x - D) / s = D + (sigma_down / s)(x - D) = D + (s'^2 / s^2)(x - D) and adds
N(0, sigma_up^2) noise: the same mean and variance, so `sample_sde(eta=1)` on the grid
sigma_1000, ..., sigma_1, 0 *is* DDPM's ancestral sampler. The last step (t = 1 to 0) adds no
noise and returns D, as DDPM's last step returns its x0 estimate (abar_0 = 1). DDPM starts
from x_T ~ N(0, I), i.e. x_T / sqrt(abar_T) ~ N(0, 1 + sigma_T^2): we start there (cdmtehr
starts at sigma_max eps, which differs by the unit data variance). With fewer than 1,000
`steps`, the grid keeps evenly spaced levels (the "respacing" of Nichol & Dhariwal 2021,
Sec. 4), and the same posterior step is taken between retained levels.

Usage::

    from ddpm_baseline import fit_ddpm
    model = fit_ddpm(train_df, roles, max_time=600, seed=0)
    synthetic = model.sample(1000, steps=1000)
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

from cdmtehr import CDMTSynthesizer
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.build import build_denoiser, denoiser_config
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.diffusion.training import TrainingConfig, train
from cdmtehr.preprocessing import EncodedCohort, SequencePreprocessor
from cdmtehr.sampling import classifier_free_guidance, sample_sde

LEVELS = 1000
# Training settings shared with CDMTSynthesizer; their defaults are read from it, so the
# baseline follows cdmtehr's defaults (loss weighting included) when those change.
TRAINING_SETTINGS = (
    "batch_size", "hidden_size", "num_layers", "embedding_dim", "learning_rate",
    "guidance_dropout", "fill_weight", "loss_weighting", "ema_decay",
)


def cosine_alpha_bar(levels: int = LEVELS, offset: float = 0.008, max_beta: float = 0.999):
    """abar_1..abar_T of the cosine schedule (Nichol & Dhariwal 2021, Eq. 17), float64.

    abar_t = f(t) / f(0) with f(t) = cos(((t / T + s) / (1 + s)) pi / 2)^2, through
    beta_t = 1 - abar_t / abar_{t-1} clipped at 0.999 (their Sec. 3.2), so abar_T > 0.
    """
    t = torch.arange(levels + 1, dtype=torch.float64)
    f = torch.cos((t / levels + offset) / (1 + offset) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)
    return torch.cumprod(1 - betas, dim=0)


class DiscreteCosineSchedule(nn.Module):
    """DDPM's 1,000 cosine noise levels in VE form; one level for every feature, nothing learned.

    Drop-in for cdmtehr's schedules in `train` / `diffusion_loss`: ``sigma(u)`` maps a diffusion
    time u in [0, 1) to the discrete step t = floor(u T) + 1 and returns sigma_t for every
    feature; ``loss`` is 0.

    Parameters
    ----------
    layout : StateLayout
        The state (only its number of features is used).
    levels : int, default=1000
        Number of discrete steps T.
    """

    def __init__(self, layout: StateLayout, levels: int = LEVELS):
        super().__init__()
        self.levels = levels
        self.layout, self.n_features = layout, layout.n_features
        alpha_bar = cosine_alpha_bar(levels)
        self.register_buffer("alpha_bar", alpha_bar)  # (T,), abar_t at index t - 1
        self.register_buffer("level_sigma", ((1 - alpha_bar) / alpha_bar).sqrt())

    def step(self, u: torch.Tensor) -> torch.Tensor:
        """Discrete step t in {1..T} of each diffusion time u in [0, 1)."""
        return (u.double() * self.levels).floor().long().clamp(0, self.levels - 1) + 1

    def sigma(self, u: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Noise levels (B, n_features): sigma_t of each patient's step, for every feature of
        states padded to `length` steps (None: the layout's `max_length`)."""
        sigma = self.level_sigma[self.step(u) - 1].float()
        n_features = self.n_features
        if length is not None and length != self.layout.max_length:
            n_features = len(self.layout.cut_features(length))
        return sigma[:, None].expand(-1, n_features)

    def grid_steps(self, steps: int) -> torch.Tensor:
        """The discrete steps visited by a `steps`-step sampler, from T down to 1."""
        steps = min(int(steps), self.levels)
        t = torch.linspace(self.levels, 1, steps, dtype=torch.float64).round().long()
        return torch.unique_consecutive(t)

    def sigma_grid(self, steps: int = LEVELS) -> torch.Tensor:
        """Noise levels of the sampler, shape (steps + 1, n_features), float64, last row 0."""
        sigma = self.level_sigma[self.grid_steps(steps) - 1]
        sigma = torch.cat([sigma, sigma.new_zeros(1)])
        return sigma[:, None].expand(-1, self.n_features).contiguous()

    def loss(self, sigma, feature_loss, weight) -> torch.Tensor:
        """Schedule-fitting loss: a fixed schedule has none."""
        return sigma.new_zeros(())


class DDPMBaseline:
    """A fitted discrete-time DDPM on cdmtehr's backbone; see the module docstring.

    Build it with `fit_ddpm`. Attributes mirror `CDMTSynthesizer`'s (``preprocessor_``,
    ``layout_``, ``model_`` (EMA denoiser), ``schedule_``, ``classes_``, ``class_prior_``,
    ``history_``, ``fit_seconds_``).
    """

    def __init__(self, *, sample_batch_size: int = 1024):
        self.sample_batch_size = sample_batch_size

    def fit(self, df, roles: dict, *, max_time=None, epochs=None, seed: int = 0,
            verbose: bool = False, **settings):
        """Train on a long frame with cdmtehr's column `roles`.

        `settings` override the training settings in `TRAINING_SETTINGS`; the others take
        `CDMTSynthesizer`'s current defaults.
        """
        unknown = set(settings) - set(TRAINING_SETTINGS)
        if unknown:
            raise TypeError(f"unknown DDPM settings {sorted(unknown)}; use {TRAINING_SETTINGS}")
        defaults = CDMTSynthesizer().get_params()
        config = {key: settings.get(key, defaults[key]) for key in TRAINING_SETTINGS}
        self.settings_ = config
        started = time.perf_counter()
        preprocessor = SequencePreprocessor(max_levels=1000)
        cohort = preprocessor.fit_transform(df, **roles)
        generator = torch.Generator().manual_seed(int(seed))
        layout = StateLayout.from_cohort(cohort, embedding_dim=config["embedding_dim"])
        tensors = CohortTensors.from_cohort(cohort, layout, device="cpu")
        denoiser = build_denoiser(
            layout,
            denoiser_config(
                tensors,
                layout,
                n_classes=cohort.n_classes,
                hidden_size=config["hidden_size"],
                num_layers=config["num_layers"],
            ),
            generator,
        )
        schedule = DiscreteCosineSchedule(layout)
        training = TrainingConfig(
            epochs=epochs,
            max_time=max_time,
            batch_size=config["batch_size"],
            learning_rate=config["learning_rate"],
            guidance_dropout=config["guidance_dropout"],
            fill_weight=config["fill_weight"],
            numeric_weighting=config["loss_weighting"],
            ema_decay=config["ema_decay"],
            verbose=verbose,
        )
        ema, history = train(denoiser, schedule, tensors, training, generator=generator)
        counts = np.bincount(cohort.condition, minlength=max(cohort.n_classes, 1))
        self.preprocessor_ = preprocessor
        self.layout_ = layout
        self.model_ = ema
        self.schedule_ = schedule
        self.classes_ = np.asarray(getattr(preprocessor, "classes_", []))
        self.class_prior_ = counts[: cohort.n_classes] / max(counts.sum(), 1)
        self.history_ = history
        self.n_patients_ = cohort.n_patients
        self.batch_size = config["batch_size"]
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def sample(self, n: int, steps: int = LEVELS, *, condition=None, random_state: int = 0):
        """`n` synthetic patients (long frame) from `steps` ancestral DDPM steps.

        `condition` is None (classes drawn from the training prevalence, as cdmtehr does) or
        one class index for every patient; guidance scale 1 (plain conditional sampling).
        """
        rng = np.random.default_rng(random_state)
        n_classes = len(self.classes_)
        if n_classes == 0:
            classes = np.zeros(n, dtype=np.int64)
        elif condition is None:
            classes = rng.choice(n_classes, size=n, p=self.class_prior_).astype(np.int64)
        else:
            classes = np.full(n, int(condition), dtype=np.int64)
        generator = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
        model = self.model_
        null = model.n_classes
        denoiser = classifier_free_guidance(model, 1.0, null) if n_classes else model
        sigmas = model.expand_sigma(self.schedule_.sigma_grid(steps))
        start_std = (1 + sigmas[0].double() ** 2).sqrt()  # x_T ~ N(0, I) in VP coordinates
        chunks = []
        for first in range(0, n, self.sample_batch_size):
            chunk_classes = classes[first : first + self.sample_batch_size]
            condition_t = torch.as_tensor(chunk_classes)
            if not n_classes:
                condition_t = torch.full_like(condition_t, null)
            noise = torch.randn((len(chunk_classes), self.layout_.size), generator=generator)
            x = noise.double() * start_std
            x = sample_sde(denoiser, x, sigmas, condition=condition_t, generator=generator, eta=1.0)
            chunks.append(
                EncodedCohort(
                    **model.decode(x),
                    condition=np.asarray(chunk_classes),
                    categorical_levels=self.preprocessor_.categorical_levels_,
                    static_categorical_levels=self.preprocessor_.static_categorical_levels_,
                    n_classes=n_classes,
                )
            )
        return self.preprocessor_.inverse_transform(EncodedCohort.concat(chunks))

    def get_loss_values(self):
        """Training loss per epoch, as `CDMTSynthesizer.get_loss_values`."""
        import pandas as pd

        return pd.DataFrame(self.history_)


def fit_ddpm(train_df, roles: dict, max_time, seed: int = 0, **params) -> DDPMBaseline:
    """Fit the DDPM baseline for `max_time` seconds (no epoch limit unless ``epochs=`` is given).

    Parameters
    ----------
    train_df : DataFrame
        Long training frame.
    roles : dict
        Column roles, as for ``CDMTSynthesizer.fit``.
    max_time : float or None
        Seconds of training (the training loop, as cdmtehr's ``max_time``).
    seed : int
        Seeds weights, batches and noise.
    **params
        Overrides of the training settings of `DDPMBaseline.fit` (``epochs``, ``hidden_size``,
        ``batch_size``, ...) and ``sample_batch_size``.
    """
    sample_batch_size = params.pop("sample_batch_size", 1024)
    model = DDPMBaseline(sample_batch_size=sample_batch_size)
    return model.fit(train_df, roles, max_time=max_time, seed=seed, **params)
