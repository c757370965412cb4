"""Differentially private training: DP-SGD with per-patient clipping and Opacus' accountant.

DP-SGD (Abadi et al. 2016): every step draws a Poisson sample of the patients (each one with
probability q, independently), takes one gradient per sampled patient, clips each to norm C
(`max_grad_norm`), sums them, adds Gaussian noise of standard deviation sigma C and divides by
the expected batch size q N. The accountant (Opacus' Renyi-DP accountant, Mironov et al. 2019)
turns (sigma, q, steps) into the (epsilon, delta) that the trained weights satisfy; sigma is
chosen before training for the planned number of steps, so that the target epsilon is never
exceeded (training that ends earlier spends less, and says so).

A patient is one unit of privacy: all their rows make one gradient. Per-patient gradients come
from `torch.func` (`vmap` of `grad` over a loss of one patient) with the GRU unrolled
(`unrolled_gru`); clipping and noise are Opacus' `DPOptimizer`. Both the denoiser and the
learnable noise schedule (fitted to the patients' losses) are trained privately; the EMA of the
weights is post-processing and costs nothing.

What the randomness of a step may not depend on: diffusion times are drawn independently per
patient here (the stratified draws of non-private training tie each patient's time to the size
of the batch, hence to who else is in it).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from .batches import CohortTensors
from .loss import loss_terms
from .training import (
    HISTORY_TERMS,
    Progress,
    TrainingBudget,
    draw_seed,
    update_ema,
    warn_if_undertrained,
)

PRIVACY_INSTALL = 'pip install "cdmtehr[privacy]"  (or: pip install opacus)'

# Renyi orders of the accountant: Opacus' defaults, extended up to 512 so that the bound
# stays tight for small epsilons and few steps.
RDP_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [80, 128, 256, 512]

# Timed steps of the probe that plans the number of steps of a time-bounded budget (after one
# warm-up step).
_PROBE_STEPS = 2


def require_opacus(owner: str = "CDMTSynthesizer"):
    """Import Opacus, or raise an ImportError that says how to install it."""
    try:
        import opacus
    except ImportError as error:
        raise ImportError(
            f"{owner} with dp_epsilon trains with differential privacy, which needs Opacus, "
            f"an optional dependency: {PRIVACY_INSTALL}."
        ) from error
    return opacus


@dataclass(frozen=True)
class PrivacyBudget:
    """The (epsilon, delta) target of DP-SGD and its clipping norm."""

    epsilon: float
    delta: float
    max_grad_norm: float


@dataclass(frozen=True)
class PrivacySpent:
    """What a private fit spent: its guarantee and the settings that give it.

    Attributes
    ----------
    epsilon : float
        The epsilon of the trained weights at `delta` (at most the target).
    delta : float
    target_epsilon : float
    noise_multiplier : float
        sigma: noise standard deviation over the clipping norm.
    sample_rate : float
        q: the probability of each patient to be in a step.
    max_grad_norm : float
        C: the clipping norm of each patient's gradient.
    steps, planned_steps : int
        Steps taken, and planned when sigma was chosen.
    """

    epsilon: float
    delta: float
    target_epsilon: float
    noise_multiplier: float
    sample_rate: float
    max_grad_norm: float
    steps: int
    planned_steps: int

    def to_dict(self) -> dict:
        """The fields by name (a fitted attribute, saved in the model file)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def spent_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """Opacus' RDP accountant: epsilon at `delta` after `steps` steps (0 before any step)."""
    from opacus.accountants import RDPAccountant

    if steps == 0:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    return float(accountant.get_epsilon(delta, alphas=RDP_ORDERS))


def choose_noise_multiplier(budget: PrivacyBudget, sample_rate: float, steps: int) -> float:
    """The smallest sigma (to Opacus' tolerance) whose `steps` steps spend at most epsilon."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(
        get_noise_multiplier(
            target_epsilon=budget.epsilon, target_delta=budget.delta, sample_rate=sample_rate,
            steps=steps, accountant="rdp", alphas=RDP_ORDERS,
        )
    )


class _PatientLoss(nn.Module):
    """Denoiser and schedule under one module; the loss of given draws."""

    def __init__(self, denoiser, schedule, loss_options: dict):
        super().__init__()
        self.denoiser, self.schedule = denoiser, schedule
        self.fill_weight = loss_options["fill_weight"]
        self.numeric_weighting = loss_options["numeric_weighting"]

    def forward(self, batch, u, noise, drop):
        return loss_terms(
            self.denoiser, self.schedule, batch, u, noise, drop, fill_weight=self.fill_weight,
            numeric_weighting=self.numeric_weighting,
        )


class _PrivateStep:
    """One DP-SGD step: Poisson sample, per-patient gradients, Opacus' clip-and-noise step."""

    def __init__(self, denoiser, schedule, ema, config, budget, sample_rate, noise_multiplier,
                 n_patients, generator):
        from opacus.optimizers import DPOptimizer

        self.module = _PatientLoss(denoiser, schedule, config.loss_options)
        self.denoiser, self.ema, self.config = denoiser, ema, config
        self.sample_rate, self.generator = sample_rate, generator
        self.names = [n for n, p in self.module.named_parameters() if p.requires_grad]
        self.parameters = [p for p in self.module.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            self.parameters, lr=config.learning_rate, betas=(0.9, 0.99), weight_decay=0
        )
        self.optimizer = DPOptimizer(
            optimizer, noise_multiplier=noise_multiplier, max_grad_norm=budget.max_grad_norm,
            expected_batch_size=max(1, round(sample_rate * n_patients)), loss_reduction="mean",
            # Opacus draws the noise on the parameters' device, with a generator of that device.
            generator=torch.Generator(device=self.parameters[0].device).manual_seed(
                draw_seed(generator)
            ),
        )
        self.per_patient = vmap(grad(self._one_patient, has_aux=True), in_dims=(None, 0, 0, 0, 0))

    def _one_patient(self, params, fields_, u, noise, drop):
        batch = CohortTensors(*(value[None] for value in fields_))
        terms = functional_call(self.module, params, (batch, u[None], noise[None], drop[None]))
        return terms["total"], {term: terms[term] for term in HISTORY_TERMS.values()}

    def sample(self, tensors: CohortTensors) -> CohortTensors:
        """Poisson sampling: each patient independently with probability q."""
        chosen = torch.rand(len(tensors), generator=self.generator) < self.sample_rate
        # Padded to the cohort's length, not the sample's longest stay: a patient's gradient
        # must not depend on the other patients' lengths.
        chosen = torch.nonzero(chosen).flatten().to(tensors.values.device)
        return tensors.index(chosen, trim=False)

    def __call__(self, batch: CohortTensors, learning_rate: float, step: int) -> dict:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        self.optimizer.zero_grad(set_to_none=True)
        n, device = len(batch), batch.values.device
        terms = dict.fromkeys(HISTORY_TERMS.values(), 0.0)
        if n:
            u = torch.rand(n, generator=self.generator).to(device)
            size = self.denoiser.layout.cut(batch.valid.shape[1]).size
            noise = torch.randn((n, size), generator=self.generator)
            drop = torch.rand(n, generator=self.generator) < self.config.guidance_dropout
            params = {k: p.detach() for k, p in zip(self.names, self.parameters, strict=True)}
            values = tuple(getattr(batch, f.name) for f in fields(batch))
            self.denoiser.network.unrolled = True
            try:
                grads, per_patient_terms = self.per_patient(
                    params, values, u, noise.to(device), drop.to(device)
                )
            finally:
                self.denoiser.network.unrolled = False
            terms = {k: float(v.mean()) for k, v in per_patient_terms.items()}
            for name, parameter in zip(self.names, self.parameters, strict=True):
                parameter.grad_sample = grads[name]
        else:  # an empty Poisson sample still takes a step: noise only
            for parameter in self.parameters:
                parameter.grad_sample = parameter.new_zeros((0, *parameter.shape))
        self.optimizer.step()
        update_ema(self.ema, self.denoiser, min(self.config.ema_decay, (1 + step) / (10 + step)))
        return terms


def _random_like(tensors: CohortTensors, n: int, generator) -> CohortTensors:
    """`n` made-up patients shaped like `tensors` (codes 0, random values): no real data."""
    arrays = {}
    for f in fields(tensors):
        value = getattr(tensors, f.name)
        shape = (n, *value.shape[1:])
        if value.dtype == torch.bool:
            arrays[f.name] = torch.ones(shape, dtype=torch.bool)
        elif value.is_floating_point():
            arrays[f.name] = torch.randn(shape, generator=generator)
        else:
            arrays[f.name] = torch.zeros(shape, dtype=value.dtype)
    return CohortTensors(**{k: v.to(tensors.values.device) for k, v in arrays.items()})


def _seconds_per_step(denoiser, schedule, tensors, config, budget, sample_rate) -> float:
    """Time DP steps on copies of the modules and made-up patients (costs no privacy)."""
    generator = torch.Generator().manual_seed(0)
    denoiser, schedule = copy.deepcopy(denoiser), copy.deepcopy(schedule)
    ema = copy.deepcopy(denoiser).requires_grad_(False)
    step = _PrivateStep(denoiser, schedule, ema, config, budget, sample_rate, 1.0,
                        len(tensors), generator)
    batch = _random_like(tensors, max(1, round(sample_rate * len(tensors))), generator)
    step(batch, 0.0, 0)  # warm-up
    started = time.perf_counter()
    for i in range(_PROBE_STEPS):
        step(batch, 0.0, i)
    return (time.perf_counter() - started) / _PROBE_STEPS


def plan_steps(config, n_patients: int, sample_rate: float, seconds_per_step=None,
               seconds_left=None) -> int:
    """Steps of the budget: `epochs` passes of q N patients or the seconds left at a pace.

    Whichever is fewer, and at least one; the pace is the probe's seconds per step.
    """
    planned = math.inf
    if config.epochs is not None:
        planned = math.ceil(config.epochs / sample_rate)
    if config.max_time is not None and seconds_per_step:
        planned = min(planned, math.floor(max(seconds_left, 0.0) / seconds_per_step))
    return max(1, int(planned))


def train_private(denoiser, schedule, tensors, config, budget: PrivacyBudget, *, generator):
    """Fit the denoiser and the schedule with DP-SGD; like `train`, plus the privacy spent.

    Training stops after the planned steps or at `config.max_time` seconds (the probe that
    plans the steps counts against them). Returns ``(ema_denoiser, history, spent)`` where
    each history record also has ``epsilon``, the epsilon spent by the end of that epoch
    (an epoch is 1 / q steps), and NaN for the losses: they are statistics of the training
    patients that the accounting does not cover, shown on the progress bar only.
    """
    require_opacus()
    n_patients = len(tensors)
    sample_rate = min(1.0, config.batch_size / n_patients)
    clock = TrainingBudget(config, n_patients, 1)
    seconds = None
    if config.max_time is not None:
        seconds = _seconds_per_step(denoiser, schedule, tensors, config, budget, sample_rate)
    planned = plan_steps(config, n_patients, sample_rate, seconds,
                         None if config.max_time is None else config.max_time - clock.elapsed())
    noise_multiplier = choose_noise_multiplier(budget, sample_rate, planned)
    clock.total_steps = planned  # the learning rate decays over the planned steps
    ema = copy.deepcopy(denoiser).eval().requires_grad_(False)
    take_step = _PrivateStep(denoiser, schedule, ema, config, budget, sample_rate,
                             noise_multiplier, n_patients, generator)
    progress = Progress(config, enabled=config.verbose)
    steps_per_epoch = max(1, round(1 / sample_rate))
    history, step, sums, in_epoch = [], 0, dict.fromkeys(HISTORY_TERMS, 0.0), 0
    denoiser.train()
    while step < planned and (step == 0 or not clock.out_of_time()):
        learning_rate = config.learning_rate * clock.learning_rate_factor(step)
        terms = take_step(take_step.sample(tensors), learning_rate, step)
        step, in_epoch = step + 1, in_epoch + 1
        for name, term in HISTORY_TERMS.items():
            sums[name] += terms[term]
        if in_epoch == steps_per_epoch or step == planned or clock.out_of_time():
            record = {"epoch": len(history) + 1, "steps": step, "seconds": clock.elapsed()}
            record.update({name: total / in_epoch for name, total in sums.items()})
            record["epsilon"] = spent_epsilon(noise_multiplier, sample_rate, step, budget.delta)
            progress.after_epoch(record)
            # The losses are statistics of the training patients outside epsilon: shown on the
            # progress bar (to the data holder), not kept in the model.
            history.append({**record, **dict.fromkeys(HISTORY_TERMS, math.nan)})
            sums, in_epoch = dict.fromkeys(HISTORY_TERMS, 0.0), 0
    progress.close(stopped_early=False)
    warn_if_undertrained(history)
    denoiser.eval()
    spent = PrivacySpent(
        epsilon=spent_epsilon(noise_multiplier, sample_rate, step, budget.delta),
        delta=budget.delta, target_epsilon=budget.epsilon, noise_multiplier=noise_multiplier,
        sample_rate=sample_rate, max_grad_norm=budget.max_grad_norm, steps=step,
        planned_steps=planned,
    )
    return ema, history, spent
