"""Declarative checks of hyper-parameters and method arguments (scikit-learn's idea, our code)."""

from __future__ import annotations

import difflib
import numbers
import os
import warnings

import numpy as np
import torch
import torch.distributed as dist
from sklearn.utils import check_random_state

from .diffusion.private import PrivacyBudget, require_opacus
from .diffusion.schedule import SCHEDULES
from .diffusion.training import TrainingConfig
from .exceptions import InvalidParameterError, PrivacyWarning
from .sampling import SAMPLERS


class Interval:
    """A number of `kind` ("int" or "real") within [low, high] (either bound may be None)."""

    def __init__(self, kind, low=None, high=None, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return False
        if self.kind == "int" and not isinstance(value, numbers.Integral):
            return False
        if not isinstance(value, numbers.Real) or not np.isfinite(value):
            return False
        low_ok = self.low is None or (
            value >= self.low if self.closed in ("both", "left") else value > self.low
        )
        high_ok = self.high is None or (
            value <= self.high if self.closed in ("both", "right") else value < self.high
        )
        return low_ok and high_ok

    def __str__(self):
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        noun = "an int" if self.kind == "int" else "a float"
        return f"{noun} in the range {left}{low}, {high}{right}"


class Options:
    """One of a fixed set of values."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value in self.values

    def __str__(self):
        return "a str among {" + ", ".join(repr(v) for v in self.values) + "}"


class Boolean:
    """True or False."""

    def accepts(self, value) -> bool:
        return isinstance(value, (bool, np.bool_))

    def __str__(self):
        return "a bool"


class NoneOr:
    """None or whatever `inner` accepts."""

    def __init__(self, inner):
        self.inner = inner

    def accepts(self, value) -> bool:
        return value is None or self.inner.accepts(value)

    def __str__(self):
        return f"None or {self.inner}"


class RandomState:
    """None, an int seed, a numpy RandomState or Generator."""

    def accepts(self, value) -> bool:
        if value is None or isinstance(value, (np.random.RandomState, np.random.Generator)):
            return True
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0

    def __str__(self):
        return "None, a non-negative int, a numpy RandomState or Generator"


class FilePath:
    """A str or path-like naming a file."""

    def accepts(self, value) -> bool:
        return isinstance(value, (str, os.PathLike)) and str(value) != ""

    def __str__(self):
        return "a str or path-like"


class Device:
    """'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device."""

    def accepts(self, value) -> bool:
        if type(value).__name__ == "device":
            return True
        if not isinstance(value, str):
            return False
        return value in ("auto", "cpu", "cuda", "mps") or (
            value.startswith("cuda:") and value[5:].isdigit()
        )

    def __str__(self):
        return "'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device"


def check_parameters(values: dict, constraints: dict, owner: str) -> None:
    """Raise `InvalidParameterError` for the first value that breaks its constraint.

    The message follows scikit-learn's template: "The 'steps' parameter of
    CDMTSynthesizer.sample must be an int in the range [1, inf). Got 0 instead."
    """
    for name, value in values.items():
        constraint = constraints[name]
        if not constraint.accepts(value):
            hint = ""
            if isinstance(constraint, Options) and isinstance(value, str):
                lowered = {v.lower(): v for v in constraint.values}
                close = difflib.get_close_matches(value.lower(), lowered, n=1)
                hint = f" Did you mean {lowered[close[0]]!r}?" if close else ""
            raise InvalidParameterError(
                f"The {name!r} parameter of {owner} must be {constraint}. "
                f"Got {value!r} instead.{hint}"
            )


def resolve_device(device, owner: str):
    """The torch.device for a valid `device` value ("auto" picks CUDA when present).

    Raises `InvalidParameterError` when the device names hardware this machine lacks, so that
    the caller hears it before any work starts (not as torch's assertion at ``.to(device)``).
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        missing = count == 0 or (resolved.index is not None and resolved.index >= count)
    elif resolved.type == "mps":
        missing = not torch.backends.mps.is_available()
    else:
        missing = False
    if missing:
        raise InvalidParameterError(
            f"The 'device' parameter of {owner} is {str(device)!r}, which this machine does not "
            f"have (torch {torch.__version__} sees {torch.cuda.device_count()} CUDA devices). "
            "Use 'cpu' or 'auto'."
        )
    return resolved


# The hyper-parameters of CDMTSynthesizer and the arguments of its sampling methods.
SYNTHESIZER_PARAMETERS = {
    "epochs": NoneOr(Interval("int", 1)),
    "max_time": NoneOr(Interval("real", 0, closed="neither")),
    "early_stopping": Boolean(),
    "validation_fraction": Interval("real", 0, 1, closed="neither"),
    "n_iter_no_change": Interval("int", 1),
    "tol": Interval("real", 0),
    "batch_size": Interval("int", 1),
    "hidden_size": Interval("int", 1),
    "num_layers": Interval("int", 1),
    "embedding_dim": Interval("int", 2),
    "learning_rate": Interval("real", 0, closed="neither"),
    "guidance_dropout": Interval("real", 0, 1),
    "fill_weight": Interval("real", 0),
    "loss_weighting": Options("auto", "edm", "uniform"),
    "schedule": Options(*SCHEDULES),
    "ema_decay": Interval("real", 0, 1, closed="left"),
    "max_levels": Interval("int", 2),
    "enforce_rounding": Boolean(),
    "sample_batch_size": Interval("int", 1),
    "device": Device(),
    "random_state": RandomState(),
    "verbose": Boolean(),
    "dp_epsilon": NoneOr(Interval("real", 0, closed="neither")),
    "dp_delta": NoneOr(Interval("real", 0, 1, closed="neither")),
    "dp_max_grad_norm": Interval("real", 0, closed="neither"),
    "max_grad_norm": NoneOr(Interval("real", 0, closed="neither")),
    "profile": Boolean(),
    "min_patients_per_value": Interval("int", 1),
}

# The arguments of CDMTSynthesizer.fit that are no hyper-parameters: where training is saved.
FIT_ARGUMENTS = {
    "checkpoint_path": NoneOr(FilePath()),
    "checkpoint_interval": Interval("real", 0, closed="neither"),
}

# Most sampler steps accepted. Sampling memory does not grow with the steps (their noise
# levels are computed one step at a time) but time does: 100,000 steps take hours for a few
# patients on a CPU, and past a few hundred the samples no longer change.
MAX_STEPS = 100_000

SAMPLE_ARGUMENTS = {
    "n": Interval("int", 1),
    "steps": Interval("int", 1, MAX_STEPS),
    "sampler": Options(*SAMPLERS),
    "guidance_scale": Interval("real", 0),
    "random_state": RandomState(),
}

# The arguments that the completion methods (forecast, impute) add to those of `sample`.
COMPLETION_ARGUMENTS = {
    "horizon": NoneOr(Interval("int", 1)),
    "n_draws": Interval("int", 1),
    "nan": Options("unmeasured", "measured", "unknown"),
}


def as_random_state(random_state) -> np.random.RandomState:
    """`check_random_state`, also for a numpy Generator (its next draw seeds a RandomState)."""
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(int(random_state.integers(0, 2**31 - 1)))
    return check_random_state(random_state)


def torch_generator(random_state) -> torch.Generator:
    """A torch.Generator seeded from a scikit-learn style random_state (never a global seed)."""
    seed = int(as_random_state(random_state).randint(0, 2**31 - 1))
    return torch.Generator(device="cpu").manual_seed(seed)


def check_privacy(params: dict, checkpoint_path=None, owner: str = "CDMTSynthesizer") -> None:
    """Refuse, before any work, differential privacy with what it cannot honour.

    DP-SGD bounds what the gradient steps reveal; early stopping chooses the weights on
    held-out patients' losses, a checkpoint (`checkpoint_path`, an argument of ``fit``)
    resumed with another time budget would re-plan the noise, and several torchrun processes
    would each add their own noise to a share of the batch: none of them fits the accounting.
    """
    if params["dp_epsilon"] is None:
        if params["dp_delta"] is not None:
            raise InvalidParameterError(
                f"{owner} got dp_delta={params['dp_delta']!r} without dp_epsilon: delta only "
                "has a meaning with differentially private training; set dp_epsilon too."
            )
        return
    conflicts = {
        "early_stopping=True": params["early_stopping"],
        "checkpoint_path": checkpoint_path is not None,
        "torchrun (several processes)": _world_size() > 1,
    }
    for option, present in conflicts.items():
        if present:
            raise InvalidParameterError(
                f"{owner} cannot train with differential privacy (dp_epsilon="
                f"{params['dp_epsilon']!r}) and {option}: "
                + _PRIVACY_CONFLICTS[option]
            )
    require_opacus(owner)


_PRIVACY_CONFLICTS = {
    "early_stopping=True": "early stopping picks the weights by the loss of held-out "
    "patients, which the privacy accounting does not cover. Set early_stopping=False.",
    "checkpoint_path": "the noise is sized for the steps planned when training starts, and "
    "a resumed fit would plan them again. Fit without a checkpoint_path.",
    "torchrun (several processes)": "each process would add its own noise to a share of "
    "the batch. Train in one process.",
}


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def privacy_budget(params: dict, n_patients: int):
    """The `PrivacyBudget` of the parameters (None without dp_epsilon).

    delta defaults to 1 / (10 n): a delta of 1 / n or more allows a mechanism that publishes
    one patient's record outright, so such a value gets a warning.
    """
    if params["dp_epsilon"] is None:
        return None
    delta = params["dp_delta"]
    if delta is None:
        delta = 1.0 / (10 * n_patients)
    elif delta >= 1.0 / n_patients:
        warnings.warn(
            f"dp_delta={delta!r} is not below 1 / n_patients = {1 / n_patients:.3g}: such a "
            "guarantee allows revealing a patient's record outright. Use a smaller delta "
            "(the default is 1 / (10 n)).",
            PrivacyWarning,
            stacklevel=4,
        )
    return PrivacyBudget(float(params["dp_epsilon"]), float(delta),
                         float(params["dp_max_grad_norm"]))


def is_two_stage(params: dict) -> bool:
    """Whether a synthesizer's parameters fit the two-stage model: a profile, and no privacy
    (the profile trees are fitted outside DP-SGD, so a private fit is single-stage)."""
    return bool(params["profile"]) and params["dp_epsilon"] is None


def numeric_weighting(params: dict) -> str:
    """The loss weighting a synthesizer trains with; ``"auto"`` resolved.

    Given its profile, the two-stage model's denoiser no longer has to find each value's level
    and spread; what it lacks is the hour-to-hour detail decided at low noise, which EDM's
    lambda(sigma) weights up and the plain squared error leaves almost untrained (its error
    there exceeded the noise it was given). The single-stage model must find the levels
    itself, where the plain squared error measured better (docs/benchmarks.md, Design
    choices).
    """
    weighting = params["loss_weighting"]
    if weighting == "auto":
        return "edm" if is_two_stage(params) else "uniform"
    return weighting


def training_settings(params: dict, n_patients: int) -> tuple:
    """The `TrainingConfig` of a synthesizer's parameters, and the patients held out.

    Returns ``(config, n_validation)``; n_validation is 0 without early stopping. Too few
    patients to hold any out fail here, before anything is built.
    """
    n_validation = 0
    if params["early_stopping"]:
        n_validation = max(1, round(params["validation_fraction"] * n_patients))
        if n_validation >= n_patients:
            raise InvalidParameterError(
                f"early_stopping=True holds out {n_validation} of {n_patients} patients "
                f"(validation_fraction={params['validation_fraction']}), leaving none to "
                "train on; lower validation_fraction, add patients or set early_stopping=False."
            )
    config = TrainingConfig(
        epochs=params["epochs"], max_time=params["max_time"], batch_size=params["batch_size"],
        learning_rate=params["learning_rate"], ema_decay=params["ema_decay"],
        guidance_dropout=params["guidance_dropout"], fill_weight=params["fill_weight"],
        numeric_weighting=numeric_weighting(params), tol=params["tol"],
        n_iter_no_change=params["n_iter_no_change"] if n_validation else None,
        max_grad_norm=params["max_grad_norm"], verbose=params["verbose"],
    )
    return config, n_validation
