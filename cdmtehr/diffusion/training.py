"""train: AdamW with warm-up and cosine decay, EMA weights, and a budget with early stopping.

Training stops at the end of its epochs, of its seconds or when the validation loss stops
improving. Each concern has its piece: `TrainingConfig` (the settings), `_optimizer_step`
(one step), `TrainingBudget` (epochs, seconds and the learning rate over them), `_EarlyStopping`
(the validation loss and the best weights) and `Progress` (the bar or the log lines);
`train` strings them together, saving and resuming its state through a `Checkpoint`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import nn

from ..exceptions import ModelFileError
from .checkpoint import held_interrupts
from .loss import diffusion_loss

logger = logging.getLogger(__name__)

# The history's name of each loss term of `diffusion_loss` (plain and private training).
HISTORY_TERMS = {"loss": "total", "diffusion": "diffusion", "schedule": "schedule"}


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of `train`.

    Parameters
    ----------
    epochs : int, optional
        Passes over the cohort. At least one of `epochs` and `max_time` must be given.
    max_time : float, optional
        Seconds of training.
    batch_size : int, default=256
        Patients per optimizer step.
    learning_rate : float, default=1e-3
        Peak AdamW learning rate (betas 0.9/0.99 as CDTD): linear warm-up over
        `warmup_steps`, then cosine decay to 10 % over the budget (steps or seconds).
    warmup_steps : int, default=100
    ema_decay : float, default=0.999
        Decay of the weights' moving average, warmed up as min(ema_decay, (1 + n) / (10 + n)).
    guidance_dropout, fill_weight, numeric_weighting
        Passed to `diffusion_loss`.
    n_iter_no_change : int, optional
        Early stopping: stop after this many epochs in a row whose validation loss is not
        below the best by more than `tol`. Needs validation patients. None trains to the
        budget (with validation patients the best weights are still the ones returned).
    tol : float, default=0.0
        The smallest decrease of the validation loss that counts as an improvement.
    max_grad_norm : float or None, default=1.0
        Norm the network's gradient is clipped to at each step (None: no clipping).
    verbose : bool, default=False
        Show a progress bar with the loss (tqdm), or log one line per epoch without tqdm.
    """

    epochs: int | None = None
    max_time: float | None = None
    batch_size: int = 256
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    ema_decay: float = 0.999
    guidance_dropout: float = 0.1
    fill_weight: float = 0.1
    numeric_weighting: str = "uniform"
    n_iter_no_change: int | None = None
    tol: float = 0.0
    max_grad_norm: float | None = 1.0
    verbose: bool = False

    def __post_init__(self):
        if self.epochs is None and self.max_time is None:
            raise ValueError("train needs epochs or max_time.")

    @property
    def loss_options(self) -> dict:
        """The keyword arguments of `diffusion_loss`, shared by training and validation."""
        return {
            "guidance_dropout": self.guidance_dropout,
            "fill_weight": self.fill_weight,
            "numeric_weighting": self.numeric_weighting,
        }


def train(denoiser, schedule, tensors, config: TrainingConfig, *, generator, validation=None,
          checkpoint=None):
    """Fit the denoiser and the schedule; return the EMA denoiser and the loss history.

    Training stops at whichever comes first: `config.epochs` passes over the cohort,
    `config.max_time` seconds, or early stopping. The learning rate decays over the budget,
    so a time-bounded run still ends with a low learning rate. Under torchrun every rank
    takes its share of each batch and DDP averages the gradients.

    Parameters
    ----------
    denoiser : Denoiser
    schedule : FactorizedSchedule or EDMSchedule
    tensors : CohortTensors
        The training cohort, on the training device.
    config : TrainingConfig
    generator : torch.Generator
        The only source of randomness (batches, u, noise, guidance dropout).
    validation : CohortTensors, optional
        Held-out patients. Their diffusion loss (EMA weights, identical draws every epoch) is
        recorded after each epoch as ``val_loss``, and the weights (EMA denoiser and schedule)
        of the best epoch are returned.
    checkpoint : Checkpoint, optional
        Save the state of training there every `checkpoint.interval` seconds, at the end and
        on Ctrl-C (held back to the end of the step), and resume from the state it holds: the
        seconds already spent count against `config.max_time`, the epochs done against
        `config.epochs`. Not under torchrun.

    Returns
    -------
    ema_denoiser : Denoiser
        A copy of the denoiser holding the EMA weights, in eval mode.
    history : list of dict
        One entry per epoch: epoch, steps, seconds, loss, diffusion, schedule, and with
        `validation` also val_loss, best_epoch and stopped_early (True on the epoch that
        stopped training).
    """
    if config.n_iter_no_change is not None and validation is None:
        raise ValueError("train needs validation patients for n_iter_no_change.")
    rank, world_size = _distributed()
    if checkpoint is not None and world_size > 1:
        raise ValueError("Checkpoints are not supported under torchrun; fit without one.")
    loss_module = _LossModule(denoiser, schedule, config.loss_options)
    hooks = []
    if world_size > 1:
        loss_module, hooks = _data_parallel(loss_module)
    network_parameters = list(denoiser.parameters())
    optimizer = torch.optim.AdamW(
        [{"params": network_parameters}, {"params": list(schedule.parameters())}],
        lr=config.learning_rate,
        betas=(0.9, 0.99),
        weight_decay=0,
    )
    # Batches come from `generator` (the same order on every rank); noise from a stream of
    # each rank's own.
    noise_generator = torch.Generator().manual_seed(draw_seed(generator) + rank)
    early_stopping = None
    if validation is not None:
        early_stopping = _EarlyStopping(validation, draw_seed(generator), config)
    ema = copy.deepcopy(denoiser).eval().requires_grad_(False)
    budget = TrainingBudget(config, len(tensors), world_size)
    progress = Progress(config, enabled=config.verbose and rank == 0)
    parts = _Parts(
        {"denoiser": denoiser, "ema": ema, "schedule": schedule}, optimizer, noise_generator,
        early_stopping,
    )
    state = _State(sums=dict.fromkeys(HISTORY_TERMS, 0.0))
    if checkpoint is not None and checkpoint.resumed is not None:
        state = _resume(checkpoint, parts, generator, budget)
        progress.resume(state.history)
    denoiser.train()
    with held_interrupts(checkpoint is not None) as interrupts:
        while not state.finished:
            epoch_start = generator.get_state()  # a checkpoint in this epoch redraws its order
            batches = _shards(tensors.batches(config.batch_size, generator), rank, world_size)
            for batch in itertools.islice(batches, state.batch, None):
                learning_rate = config.learning_rate * budget.learning_rate_factor(state.step)
                terms = _optimizer_step(
                    loss_module, optimizer, batch, noise_generator, learning_rate,
                    network_parameters, config.max_grad_norm,
                )
                step = state.step
                update_ema(ema, denoiser, min(config.ema_decay, (1 + step) / (10 + step)))
                state.step, state.batch = step + 1, state.batch + 1
                for name, term in HISTORY_TERMS.items():
                    state.sums[name] += terms[term].item()
                if budget.out_of_time():
                    state.finished = True
                    break
                if checkpoint is not None and (interrupts.requested or checkpoint.due()):
                    _save(checkpoint, parts, state, epoch_start, budget.elapsed(),
                          interrupted=interrupts.requested)
                    interrupts.raise_if_requested()
            state.epoch += 1
            record = {"epoch": state.epoch, "steps": state.step, "seconds": budget.elapsed()}
            record.update({name: total / max(state.batch, 1) for name, total in state.sums.items()})
            if early_stopping is not None:
                record.update(early_stopping.after_epoch(state.epoch, ema, schedule, world_size))
                state.finished = state.finished or record["stopped_early"]
            state.finished = state.finished or budget.epochs_spent(state.epoch)
            state.history.append(record)
            state.batch, state.sums = 0, dict.fromkeys(HISTORY_TERMS, 0.0)
            progress.after_epoch(record, early_stopping)
        if checkpoint is not None:  # the end of training: a refit returns this model at once
            _save(checkpoint, parts, state, generator.get_state(), budget.elapsed(),
                  interrupted=interrupts.requested)
            interrupts.raise_if_requested()
    history = state.history
    progress.close(stopped_early=bool(history[-1].get("stopped_early")))
    if rank == 0:
        warn_if_undertrained(history)
    if early_stopping is not None:
        early_stopping.restore(ema, schedule)
    for hook in hooks:  # the fitted modules must stay picklable
        hook.remove()
    denoiser.eval()
    return ema, history


# -- checkpoints: the state of training, saved and resumed -------------------------------------
@dataclass
class _State:
    """Where training is: the counters, the place within the epoch, the history so far."""

    step: int = 0
    epoch: int = 0  # full epochs done
    batch: int = 0  # batches done in the current epoch
    sums: dict = field(default_factory=dict)  # their loss terms, summed
    history: list = field(default_factory=list)
    finished: bool = False


class _Parts(NamedTuple):
    """What a checkpoint saves besides the `_State`."""

    modules: dict  # denoiser, ema, schedule
    optimizer: torch.optim.Optimizer
    noise: torch.Generator
    early_stopping: _EarlyStopping | None


def _save(checkpoint, parts: _Parts, state: _State, epoch_start, elapsed, interrupted) -> None:
    """Write the training state to `checkpoint`.

    `epoch_start` is the batch generator's state at the start of the epoch: resuming draws
    the epoch's order again and skips the batches done.
    """
    stopping = parts.early_stopping
    checkpoint.save(
        {
            "modules": {name: module.state_dict() for name, module in parts.modules.items()},
            "optimizer": parts.optimizer.state_dict(),
            "generators": {"batches": epoch_start, "noise": parts.noise.get_state()},
            "early_stopping": None if stopping is None else stopping.state_dict(),
            "position": dataclasses.asdict(state),
            "elapsed": float(elapsed),
        }
    )
    if interrupted:
        logger.warning(
            "Training interrupted after %d steps (%.0f s); its checkpoint is %s: fit again "
            "with the same data and parameters to resume it.",
            state.step, elapsed, checkpoint.path,
        )


def _resume(checkpoint, parts: _Parts, generator, budget) -> _State:
    """Put the checkpoint's state into the training parts; return where training resumes."""
    training = checkpoint.resumed
    try:
        for name, module in parts.modules.items():
            module.load_state_dict(training["modules"][name])
        parts.optimizer.load_state_dict(training["optimizer"])
        generator.set_state(training["generators"]["batches"])
        parts.noise.set_state(training["generators"]["noise"])
        if parts.early_stopping is not None:
            parts.early_stopping.load_state_dict(training["early_stopping"])
        state = _State(**training["position"])
        elapsed = float(training["elapsed"])
    except Exception as error:  # fingerprints match, so only a damaged file gets here
        raise ModelFileError(
            f"The checkpoint {str(checkpoint.path)!r} is damaged ({error}); delete it to "
            "train afresh."
        ) from error
    budget.start -= elapsed  # the seconds spent before count against max_time
    return state


# -- one optimizer step --------------------------------------------------------------------------
class _LossModule(nn.Module):
    """Denoiser and schedule under one module, so that DDP averages the gradients of both."""

    def __init__(self, denoiser, schedule, loss_options: dict):
        super().__init__()
        self.denoiser = denoiser
        self.schedule = schedule
        self.loss_options = loss_options

    def forward(self, batch, generator):
        return diffusion_loss(self.denoiser, self.schedule, batch, generator, **self.loss_options)


def _optimizer_step(loss_module, optimizer, batch, noise_generator, learning_rate, clipped,
                    max_norm=1.0):
    """One AdamW step on `batch` at `learning_rate`; returns the loss terms.

    The gradients of the `clipped` parameters (the network's) are clipped to `max_norm` (None:
    not clipped): the schedule's gradients (its own loss) must not shrink the network's.
    A batch of stays that differ widely in length is split into groups of similar length
    (`CohortTensors.length_groups`): the step's loss is then the mean of the groups' losses
    weighted by their patients, its gradient accumulated group after group, so that only
    one group's activations are held at a time.
    """
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
    optimizer.zero_grad(set_to_none=True)
    groups = batch.length_groups()
    terms = None
    for i, part in enumerate(groups):
        share = len(part) / len(batch)  # 1.0 for a whole batch: the loss is then exactly its own
        with _gradient_sync(loss_module, last=i == len(groups) - 1):
            part_terms = loss_module(part, noise_generator)
            (part_terms["total"] * share).backward()
        terms = _add_terms(terms, part_terms, share)
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(clipped, max_norm)
    optimizer.step()
    return terms


def _gradient_sync(loss_module, last: bool):
    """Under DDP, hold back the gradients' all-reduce until the last group of a batch."""
    if last or not isinstance(loss_module, nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext()
    return loss_module.no_sync()


def _add_terms(total, terms, share: float) -> dict:
    """`total` plus the detached loss `terms` of one group weighted by `share`."""
    weighted = {name: value.detach() * share for name, value in terms.items()}
    if total is None:
        return weighted
    return {name: total[name] + weighted[name] for name in total}


@torch.no_grad()
def update_ema(ema, denoiser, decay: float) -> None:
    """Move each weight of `ema` toward `denoiser`'s by ``1 - decay`` of the gap, in place."""
    for ema_param, param in zip(ema.parameters(), denoiser.parameters(), strict=True):
        ema_param.lerp_(param, 1 - decay)


def draw_seed(generator) -> int:
    """Draw a seed in [0, 2**31 - 1) from the torch `generator` (which it advances)."""
    return int(torch.randint(2**31 - 1, (), generator=generator))


# -- budget: epochs, seconds and the learning rate over them -------------------------------------
class TrainingBudget:
    """How much of the training budget is spent; under DDP, rank 0's clock decides for all."""

    def __init__(self, config: TrainingConfig, n_patients: int, world_size: int):
        steps_per_epoch = max(1, math.ceil(n_patients / config.batch_size))
        self.total_steps = None if config.epochs is None else config.epochs * steps_per_epoch
        self.epochs, self.max_time = config.epochs, config.max_time
        self.warmup_steps, self.world_size = config.warmup_steps, world_size
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the budget was set up (a resumed fit adds its earlier seconds)."""
        return time.perf_counter() - self.start

    def learning_rate_factor(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 10 % over the budget (steps or seconds)."""
        progress = max(
            step / self.total_steps if self.total_steps else 0.0,
            self.elapsed() / self.max_time if self.max_time else 0.0,
        )
        warmup = min(1.0, (step + 1) / self.warmup_steps)
        return warmup * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))

    def out_of_time(self) -> bool:
        """Whether max_time is spent (rank 0's answer, under DDP); never without max_time."""
        if self.max_time is None:
            return False
        return _rank_zero_says(self.elapsed() >= self.max_time, self.world_size)

    def epochs_spent(self, epoch: int) -> bool:
        """Whether `epoch` epochs use up the epochs of the budget (never without epochs)."""
        return self.epochs is not None and epoch >= self.epochs


# -- early stopping ------------------------------------------------------------------------------
class _EarlyStopping:
    """Keep the best validation loss and its weights; say when it stopped improving.

    The validation loss is the diffusion loss of the EMA denoiser (the weights that will
    sample) on held-out patients with the same u, noise and guidance dropout at every epoch
    (a generator re-seeded each time), so epochs are compared on identical draws.
    """

    def __init__(self, validation, seed: int, config: TrainingConfig):
        self.validation, self.seed, self.batch_size = validation, seed, config.batch_size
        self.patience, self.tol = config.n_iter_no_change, config.tol
        self.loss_options = config.loss_options
        self.best, self.best_epoch, self.best_state, self.waited = math.inf, 0, None, 0

    @torch.no_grad()
    def loss(self, ema, schedule) -> float:
        generator = torch.Generator().manual_seed(self.seed)
        total = 0.0
        for start in range(0, len(self.validation), self.batch_size):
            index = torch.arange(start, min(start + self.batch_size, len(self.validation)))
            batch = self.validation.index(index.to(self.validation.values.device))
            for part in batch.length_groups():
                terms = diffusion_loss(ema, schedule, part, generator, **self.loss_options)
                total += terms["diffusion"].item() * len(part)
        return total / len(self.validation)

    def update(self, epoch: int, loss: float, ema, schedule) -> bool:
        """Record `loss` of `epoch`; True when `patience` epochs passed without improvement."""
        if loss < self.best - self.tol:
            self.best, self.best_epoch, self.waited = loss, epoch, 0
            self.best_state = copy.deepcopy((ema.state_dict(), schedule.state_dict()))
        else:
            self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def after_epoch(self, epoch: int, ema, schedule, world_size: int) -> dict:
        """The epoch's entries of the history: val_loss, best_epoch, stopped_early."""
        loss = self.loss(ema, schedule)
        no_change = self.update(epoch, loss, ema, schedule)
        return {
            "val_loss": loss,
            "best_epoch": self.best_epoch,
            "stopped_early": _rank_zero_says(no_change, world_size),
        }

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "waited": self.waited,
                "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.waited, self.best_state = int(state["waited"]), state["best_state"]

    def restore(self, ema, schedule):
        """Put the weights of the best epoch back."""
        if self.best_state is not None:
            ema.load_state_dict(self.best_state[0])
            schedule.load_state_dict(self.best_state[1])


# -- progress ------------------------------------------------------------------------------------
# Fewer optimizer steps and epochs than these, unless early stopping ended training: the model
# has barely started (the 600 s demo on 3,000 patients takes about 1,000 steps).
_MIN_STEPS, _MIN_EPOCHS = 500, 100


def warn_if_undertrained(history) -> None:
    """Say once, in the log, when training ended far too early to give a usable model."""
    last = history[-1]
    if last.get("stopped_early") or last["steps"] >= _MIN_STEPS or last["epoch"] >= _MIN_EPOCHS:
        return
    logger.warning(
        "Training ended after %d optimizer steps (%d epochs, %.0f s): far too few for this "
        "data; the synthetic patients will be easy to tell from real ones. Give more time "
        "(max_time, --max-time) or epochs: the scores keep improving past %d steps.",
        last["steps"],
        last["epoch"],
        last["seconds"],
        2 * _MIN_STEPS,
    )


def _progress_bar(enabled: bool, epochs, max_time):
    """A tqdm bar over seconds when time bounds training, else over epochs (None: no tqdm)."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is an optional extra; fall back to log lines
        return None
    if max_time is not None:
        # No rate: "1.00s/s" says nothing; the postfix shows the epochs instead.
        bar_format = "{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}{postfix}]"
        return tqdm(total=round(max_time), desc="fit", bar_format=bar_format, leave=True)
    return tqdm(total=epochs, desc="fit", unit="epoch", leave=True)


class Progress:
    """The loss after every epoch: on a tqdm bar, or as log lines without tqdm.

    The loss shown is the mean over the last (up to) five full epochs: the last epoch of a
    time-bounded run is cut short, and its few batches would show a jump that is only noise.
    """

    window = 5

    def __init__(self, config: TrainingConfig, enabled: bool):
        self.enabled, self.max_time = enabled, config.max_time
        self.bar = _progress_bar(enabled, config.epochs, config.max_time)
        self.full_losses, self.steps_per_epoch, self.steps = [], None, 0

    def _running_loss(self, record: dict) -> float:
        """Mean loss of the last full epochs (the record's own while none is full yet)."""
        steps, self.steps = record["steps"] - self.steps, record["steps"]
        if self.steps_per_epoch is None:
            self.steps_per_epoch = steps
        if steps >= self.steps_per_epoch:
            self.full_losses = [*self.full_losses[-(self.window - 1) :], record["loss"]]
        return sum(self.full_losses) / len(self.full_losses) if self.full_losses else record["loss"]

    def resume(self, history: list) -> None:
        """Show the epochs of a resumed fit as if they had just run (without log lines)."""
        enabled, self.enabled = self.enabled, False
        for record in history:
            self.after_epoch(record)
        self.enabled = enabled

    def after_epoch(self, record: dict, early_stopping=None) -> None:
        """Show one epoch's history record: on the bar, or as a log line when enabled."""
        postfix = {"epoch": record["epoch"], "loss": f"{self._running_loss(record):.4f}"}
        if "epsilon" in record:  # differentially private training: the epsilon spent so far
            postfix["epsilon"] = f"{record['epsilon']:.2f}"
        if "val_loss" in record:
            postfix["val"] = f"{record['val_loss']:.4f}"
            if early_stopping is not None and early_stopping.patience is not None:
                postfix["no_change"] = f"{early_stopping.waited}/{early_stopping.patience}"
        if self.bar is not None:
            self.bar.set_postfix(postfix)
            if self.max_time is not None:
                self.bar.update(min(round(record["seconds"]), round(self.max_time)) - self.bar.n)
            else:
                self.bar.update(1)
        elif self.enabled:
            logger.info(
                "epoch %d: %s (%.1f s)",
                record["epoch"],
                ", ".join(f"{k} {v}" for k, v in postfix.items() if k != "epoch"),
                record["seconds"],
            )

    def close(self, stopped_early: bool) -> None:
        """Close the bar, saying when early stopping ended the fit."""
        if self.bar is not None:
            if stopped_early:
                self.bar.set_description("fit (stopped early)")
            self.bar.close()


# -- data parallel (torchrun) --------------------------------------------------------------------
def _distributed() -> tuple:
    """(rank, world size) of the torch.distributed group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _data_parallel(loss_module) -> tuple:
    """The loss module under DDP, and the gradient hooks to remove after training.

    Autograd may return a gradient with other strides than its parameter where a dimension
    has size 1 (an embedding table of one feature); DDP's buckets then warn on every step.
    The hooks hand DDP gradients laid out like their parameters.
    """
    hooks = [p.register_hook(_laid_out_like(p)) for p in loss_module.parameters()]
    return nn.parallel.DistributedDataParallel(loss_module), hooks


def _laid_out_like(parameter):
    """A gradient hook that copies a gradient into `parameter`'s strides when they differ."""

    def hook(grad):
        if grad.stride() == parameter.stride():
            return grad
        return torch.empty_like(parameter).copy_(grad)

    return hook


def _shards(batches, rank: int, world_size: int):
    """Each rank's share of every batch (all of it without DDP)."""
    for batch in batches:
        if len(batch) < world_size:
            continue  # too small to share; the same decision on every rank
        if world_size > 1:
            batch = batch.index(torch.arange(rank, len(batch), world_size))
        yield batch


def _rank_zero_says(flag: bool, world_size: int) -> bool:
    """Rank 0's answer on every rank, so that all ranks stop together."""
    if world_size > 1:
        tensor = torch.tensor([float(flag)])
        dist.broadcast(tensor, src=0)
        flag = bool(tensor.item())
    return flag
