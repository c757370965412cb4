"""Declarative checks of hyper-parameters and method arguments (scikit-learn's idea, our code)."""

from __future__ import annotations

import difflib
import numbers

import numpy as np

from .exceptions import InvalidParameterError


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
    import torch  # here: the rest of this module has no need for torch

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


def cpu_computes_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX, as oneDNN sees it)."""
    import torch

    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):  # a torch build without oneDNN or without the op
        return False


def cpu_has_matrix_tiles() -> bool:
    """Whether this CPU has AMX tiles (Intel Advanced Matrix Extensions), as torch sees them."""
    import torch

    check = getattr(getattr(torch, "cpu", None), "_is_amx_tile_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def resolve_training_dtype(precision: str, device):
    """The autocast dtype of the network in training for `training_precision` (None: float32).

    "auto" takes bfloat16 on a CPU with AMX tiles that oneDNN computes bfloat16 on, and
    float32 elsewhere: with AVX-512 BF16 alone, float32 trained 17-25 % faster than bfloat16
    (session 9), while session 6's machine, whose flags were not recorded, trained 20-40 %
    faster in bfloat16, which we read as AMX (docs/benchmarks.md). On CUDA the bfloat16 path
    has not been measured.
    """
    import torch

    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "auto" and device.type == "cpu":
        if cpu_has_matrix_tiles() and cpu_computes_bfloat16():
            return torch.bfloat16
    return None
