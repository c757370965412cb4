"""train: AdamW with warm-up and cosine decay, EMA weights, bounded by epochs, seconds and
early stopping on a validation loss."""

from __future__ import annotations

import copy
import logging
import math
import time

import torch
import torch.distributed as dist
from torch import nn

from .loss import diffusion_loss

logger = logging.getLogger(__name__)

SCHEDULE_LR_SCALE = 1.0


def _learning_rate_factor(step: int, progress: float, warmup_steps: int) -> float:
    """Linear warm-up, then cosine decay to 10 % over the budget (steps or seconds)."""
    warmup = min(1.0, (step + 1) / warmup_steps)
    return warmup * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


class _LossModule(nn.Module):
    """Denoiser and schedule under one module, so that DDP averages the gradients of both."""

    def __init__(self, denoiser, schedule, loss_options: dict):
        super().__init__()
        self.denoiser = denoiser
        self.schedule = schedule
        self.loss_options = loss_options

    def forward(self, batch, generator):
        return diffusion_loss(self.denoiser, self.schedule, batch, generator, **self.loss_options)


def _laid_out_like(parameter):
    """A gradient hook that copies a gradient into `parameter`'s strides when they differ."""

    def hook(grad):
        if grad.stride() == parameter.stride():
            return grad
        return torch.empty_like(parameter).copy_(grad)

    return hook


def _distributed() -> tuple:
    """(rank, world size) of the torch.distributed group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _EarlyStopping:
    """Keep the best validation loss and its weights; say when it stopped improving.

    The validation loss is the diffusion loss of the EMA denoiser (the weights that will
    sample) on held-out patients with the same u, noise and guidance dropout at every epoch
    (a generator re-seeded each time), so epochs are compared on identical draws.
    """

    def __init__(self, validation, seed, batch_size, patience, tol, loss_options):
        self.validation, self.seed, self.batch_size = validation, seed, batch_size
        self.patience, self.tol, self.loss_options = patience, tol, loss_options
        self.best, self.best_epoch, self.best_state, self.waited = math.inf, 0, None, 0

    @torch.no_grad()
    def loss(self, ema, schedule) -> float:
        generator = torch.Generator().manual_seed(self.seed)
        total = 0.0
        for start in range(0, len(self.validation), self.batch_size):
            index = torch.arange(start, min(start + self.batch_size, len(self.validation)))
            batch = self.validation.index(index.to(self.validation.values.device))
            terms = diffusion_loss(ema, schedule, batch, generator, **self.loss_options)
            total += terms["diffusion"].item() * len(batch)
        return total / len(self.validation)

    def update(self, epoch: int, loss: float, ema, schedule) -> bool:
        """Record `loss` of `epoch`; True when `patience` epochs passed without improvement."""
        if loss < self.best - self.tol:
            self.best, self.best_epoch, self.waited = loss, epoch, 0
            self.best_state = (copy.deepcopy(ema.state_dict()), copy.deepcopy(schedule.state_dict()))
        else:
            self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def restore(self, ema, schedule):
        """Put the weights of the best epoch back."""
        if self.best_state is not None:
            ema.load_state_dict(self.best_state[0])
            schedule.load_state_dict(self.best_state[1])


def _progress_bar(enabled: bool, epochs, max_time):
    """A tqdm bar over seconds when time bounds training, else over epochs (None: no tqdm)."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is an optional extra; fall back to log lines
        return None
    if max_time is not None:
        return tqdm(total=round(max_time), desc="fit", unit="s", leave=True)
    return tqdm(total=epochs, desc="fit", unit="epoch", leave=True)


def _rank_zero_says(flag: bool, world_size: int) -> bool:
    """Rank 0's answer on every rank, so that all ranks stop together."""
    if world_size > 1:
        tensor = torch.tensor([float(flag)])
        dist.broadcast(tensor, src=0)
        flag = bool(tensor.item())
    return flag


def _out_of_time(start: float, max_time, world_size: int) -> bool:
    """Whether the time budget is spent; under DDP all ranks stop together (rank 0's clock)."""
    if max_time is None:
        return False
    return _rank_zero_says(time.perf_counter() - start >= max_time, world_size)


def train(
    denoiser,
    schedule,
    tensors,
    *,
    generator: torch.Generator,
    epochs: int | None = None,
    max_time: float | None = None,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    guidance_dropout: float = 0.1,
    fill_weight: float = 0.1,
    numeric_weighting: str = "uniform",
    noise_correlation: float = 0.0,
    ema_decay: float = 0.999,
    warmup_steps: int = 100,
    validation=None,
    n_iter_no_change: int | None = None,
    tol: float = 0.0,
    verbose: bool = False,
    network_dtype: torch.dtype | None = None,
):
    """Fit the denoiser and the schedule; return the EMA denoiser and the loss history.

    Training stops at whichever comes first: `epochs` passes over the cohort or `max_time`
    seconds. The learning rate decays over that same budget, so a time-bounded run still ends
    with a low learning rate.

    Parameters
    ----------
    denoiser : Denoiser
    schedule : FactorizedSchedule or EDMSchedule
    tensors : CohortTensors
        The training cohort, on the training device.
    generator : torch.Generator
        The only source of randomness (batches, u, noise, guidance dropout).
    epochs : int, optional
        Passes over the cohort. At least one of `epochs` and `max_time` must be given.
    max_time : float, optional
        Seconds of training.
    batch_size, learning_rate, guidance_dropout, fill_weight, numeric_weighting, ema_decay, warmup_steps
        Optimisation settings (AdamW betas 0.9/0.99 as CDTD; EMA decay warms up as
        min(ema_decay, (1 + n) / (10 + n))).
    noise_correlation : float, default=0.0
        Correlation of the training noise between neighbouring time steps (noise.py).
    validation : CohortTensors, optional
        Held-out patients. Their diffusion loss (EMA weights, identical draws every epoch) is
        recorded after each epoch as ``val_loss``.
    n_iter_no_change : int, optional
        Early stopping: stop after this many epochs in a row whose validation loss is not
        below the best by more than `tol`, and return the weights (EMA denoiser and schedule)
        of the best epoch. Needs `validation`. None trains to the budget; with `validation`
        given the best weights are still the ones returned.
    tol : float, default=0.0
        The smallest decrease of the validation loss that counts as an improvement.
    verbose : bool, default=False
        Show a progress bar with the loss (tqdm), or log one line per epoch without tqdm.
    network_dtype : torch.dtype, optional
        Mixed precision: run the network F_theta under autocast to this dtype (bfloat16)
        while training. The preconditioning, the loss, the schedule, the optimizer and the
        weights stay float32, and the returned denoisers compute in float32 again.

    Returns
    -------
    ema_denoiser : Denoiser
        A copy of the denoiser holding the EMA weights, in eval mode.
    history : list of dict
        One entry per epoch: epoch, steps, loss, diffusion, schedule, seconds, and with
        `validation` also val_loss, best_epoch and stopped_early (True on the epoch that
        stopped training).
    """
    if epochs is None and max_time is None:
        raise ValueError("train needs epochs or max_time.")
    if n_iter_no_change is not None and validation is None:
        raise ValueError("train needs validation patients for n_iter_no_change.")
    rank, world_size = _distributed()
    hooks = []
    # The keyword arguments of diffusion_loss, shared by training and validation.
    loss_options = {
        "guidance_dropout": guidance_dropout,
        "fill_weight": fill_weight,
        "numeric_weighting": numeric_weighting,
        "noise_correlation": noise_correlation,
    }
    loss_module = _LossModule(denoiser, schedule, loss_options)
    if world_size > 1:
        # Data parallel under torchrun: every rank takes its share of each batch and DDP
        # averages the gradients, so all ranks keep identical weights.
        # Autograd may return a gradient with other strides than its parameter where a
        # dimension has size 1 (an embedding table of one feature); DDP's buckets then warn on
        # every step. Hand DDP gradients laid out like their parameters.
        hooks = [p.register_hook(_laid_out_like(p)) for p in loss_module.parameters()]
        loss_module = nn.parallel.DistributedDataParallel(loss_module)
    network_parameters = list(denoiser.parameters())
    # The schedule's parameters get their own learning-rate scale (SCHEDULE_LR_SCALE): a 10x
    # faster schedule was tried for short CPU budgets and did not help (docs/benchmarks.md).
    optimizer = torch.optim.AdamW(
        [
            {"params": network_parameters, "lr_scale": 1.0},
            {"params": list(schedule.parameters()), "lr_scale": SCHEDULE_LR_SCALE},
        ],
        lr=learning_rate,
        betas=(0.9, 0.99),
        weight_decay=0,
    )
    # Batches come from `generator` (the same order on every rank); noise from a stream of
    # each rank's own.
    noise_seed = int(torch.randint(2**31 - 1, (), generator=generator)) + rank
    noise_generator = torch.Generator().manual_seed(noise_seed)
    early_stopping = None
    if validation is not None:
        early_stopping = _EarlyStopping(
            validation,
            seed=int(torch.randint(2**31 - 1, (), generator=generator)),
            batch_size=batch_size,
            patience=n_iter_no_change,
            tol=tol,
            loss_options=loss_options,
        )
    denoiser.network.autocast_dtype = network_dtype
    ema = copy.deepcopy(denoiser).eval().requires_grad_(False)
    steps_per_epoch = max(1, math.ceil(len(tensors) / batch_size))
    total_steps = epochs * steps_per_epoch if epochs is not None else None
    bar = _progress_bar(verbose and rank == 0, epochs, max_time)
    history, step, epoch = [], 0, 0
    start = time.perf_counter()
    denoiser.train()
    stop = False
    while not stop:
        sums = {"loss": 0.0, "diffusion": 0.0, "schedule": 0.0}
        batches = 0
        for batch in tensors.batches(batch_size, generator):
            if len(batch) < world_size:
                continue  # too small to share; the same decision on every rank
            if world_size > 1:
                batch = batch.index(torch.arange(rank, len(batch), world_size))
            elapsed = time.perf_counter() - start
            progress = max(
                step / total_steps if total_steps else 0.0,
                elapsed / max_time if max_time else 0.0,
            )
            factor = _learning_rate_factor(step, progress, warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate * factor * group["lr_scale"]
            terms = loss_module(batch, noise_generator)
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            # Clip the network alone: the schedule's gradients (its own loss) must not shrink it.
            torch.nn.utils.clip_grad_norm_(network_parameters, 1.0)
            optimizer.step()
            decay = min(ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for ema_param, param in zip(ema.parameters(), denoiser.parameters()):
                    ema_param.lerp_(param, 1 - decay)
            step += 1
            batches += 1
            sums["loss"] += terms["total"].item()
            sums["diffusion"] += terms["diffusion"].item()
            sums["schedule"] += terms["schedule"].item()
            if _out_of_time(start, max_time, world_size):
                stop = True
                break
        epoch += 1
        record = {"epoch": epoch, "steps": step, "seconds": time.perf_counter() - start}
        record.update({k: v / max(batches, 1) for k, v in sums.items()})
        postfix = {"epoch": epoch, "loss": f"{record['loss']:.4f}"}
        if early_stopping is not None:
            record["val_loss"] = early_stopping.loss(ema, schedule)
            no_change = early_stopping.update(epoch, record["val_loss"], ema, schedule)
            record["best_epoch"] = early_stopping.best_epoch
            postfix["val"] = f"{record['val_loss']:.4f}"
            if n_iter_no_change is not None:
                postfix["no_change"] = f"{early_stopping.waited}/{n_iter_no_change}"
            record["stopped_early"] = _rank_zero_says(no_change, world_size)
            stop = stop or record["stopped_early"]
        history.append(record)
        if bar is not None:
            bar.set_postfix(postfix)
            if max_time is not None:
                bar.update(min(round(record["seconds"]), round(max_time)) - bar.n)
            else:
                bar.update(1)
        elif verbose and rank == 0:
            logger.info(
                "epoch %d: %s (%.1f s)",
                epoch,
                ", ".join(f"{k} {v}" for k, v in postfix.items() if k != "epoch"),
                record["seconds"],
            )
        if epochs is not None and epoch >= epochs:
            stop = True
    if bar is not None:
        if history and history[-1].get("stopped_early"):
            bar.set_description("fit (stopped early)")
        bar.close()
    if early_stopping is not None:
        early_stopping.restore(ema, schedule)
    for hook in hooks:  # the fitted modules must stay picklable
        hook.remove()
    for model in (denoiser, ema):  # sampling stays in float32
        model.network.autocast_dtype = None
    denoiser.eval()
    return ema, history
