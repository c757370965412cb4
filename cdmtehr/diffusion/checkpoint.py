"""Checkpoints of training: a fit that is killed or stopped with Ctrl-C resumes where it was.

A checkpoint holds what resuming needs: the network, EMA and schedule weights, the optimizer's
state, the step and epoch counters and the place within the epoch, the states of the random
generators, the loss history and the seconds of training spent. Resuming from it gives the
weights an uninterrupted fit would have given (the same batches and noise follow).

The file is written atomically (`write_atomically`: a kill while writing leaves the previous
checkpoint whole) by ``torch.save`` of tensors and plain containers only, and read with
``torch.load(weights_only=True)``: loading never runs code from the file. It carries the
fingerprint of the fit that wrote it (the parameters that shape training and a hash of the
encoded cohort): a fit of other data or with other parameters refuses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import numbers
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from .._atomic import write_atomically
from ..exceptions import InvalidParameterError, ModelFileError

logger = logging.getLogger(__name__)

FORMAT_NAME = "cdmtehr-checkpoint"
FORMAT_VERSION = 1
# Parameters that do not change what training computes: a resumed fit may change them.
_FREE_PARAMETERS = frozenset({"verbose", "device", "sample_batch_size"})
_TRAINING_KEYS = ("modules", "optimizer", "generators", "early_stopping", "position", "elapsed")


def open_checkpoint(path, interval: float, params: dict, cohort) -> Checkpoint | None:
    """The `Checkpoint` at `path` of a synthesizer's fit on `cohort` (None without a path)."""
    if path is None:
        return None
    return Checkpoint(path, interval, fit_fingerprint(params, cohort))


def fit_fingerprint(params: dict, cohort) -> dict:
    """What a checkpoint must share with a fit to be resumed by it: parameters and data.

    Parameters
    ----------
    params : dict
        The synthesizer's ``get_params()``; those that do not change training are left out.
    cohort : EncodedCohort
        The encoded training patients, hashed (SHA-256 of every array, its type and shape).

    Returns
    -------
    dict
        "parameters" (plain values), "data" (the hash) and "shape" (patients, time steps).
    """
    digest = hashlib.sha256()
    for name in cohort._ARRAY_FIELDS:
        array = np.ascontiguousarray(getattr(cohort, name))
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.view(np.uint8).reshape(-1) if array.size else b"")
    levels = (cohort.categorical_levels, cohort.static_categorical_levels, cohort.n_classes)
    digest.update(repr(tuple(map(_plain, levels))).encode())
    return {
        "parameters": {
            name: _plain(value)
            for name, value in sorted(params.items())
            if name not in _FREE_PARAMETERS
        },
        "data": digest.hexdigest(),
        "shape": [int(cohort.n_patients), int(cohort.max_length)],
    }


def _plain(value):
    """`value` as a plain Python value (a live random generator as None: its draws are stored)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        return None
    return str(value)


class Checkpoint:
    """The checkpoint file of one fit: the state it resumes from and when to write the next.

    Parameters
    ----------
    path : str or path-like
        The file; its folder is made if needed and must be writable.
    interval : float
        Seconds of training between two checkpoints.
    fingerprint : dict
        From `fit_fingerprint`; an existing file with another one is refused.

    Attributes
    ----------
    resumed : dict or None
        The training state read from the file, None when there is no file yet.
    """

    def __init__(self, path, interval: float, fingerprint: dict):
        self.path, self.interval, self.fingerprint = Path(path), float(interval), fingerprint
        self.resumed, self.origin = None, None
        if self.path.is_file():
            document = self._read()
            self.resumed, self.origin = document["training"], document["origin"]
        else:
            self._check_writable()
        self.last_save = time.monotonic()

    def start(self, generator: torch.Generator) -> None:
        """Put `generator` where the checkpointed fit started, or note where this one starts.

        The held-out patients and the initial weights are drawn from it again, so that a
        resumed fit holds out the same patients even without a `random_state`.
        """
        if self.origin is None:
            self.origin = generator.get_state()
        else:
            generator.set_state(self.origin)

    def due(self) -> bool:
        """True when `interval` seconds have passed since the last checkpoint (or the start)."""
        return time.monotonic() - self.last_save >= self.interval

    def save(self, training: dict) -> None:
        """Write `training` (tensors and plain containers) atomically in place of the file."""
        document = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "origin": self.origin,
            "training": training,
        }
        write_atomically(self.path, lambda file: torch.save(document, file))
        self.last_save = time.monotonic()

    def _check_writable(self) -> None:
        """Fail before training, not at the first checkpoint, when the folder is not writable."""
        try:
            if self.path.is_dir():
                raise IsADirectoryError(21, "is a folder")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.path.parent):
                pass
        except OSError as error:
            raise InvalidParameterError(
                f"The checkpoint file {str(self.path)!r} cannot be written: "
                f"{error.strerror or error}."
            ) from None

    def _read(self) -> dict:
        where = repr(str(self.path))
        try:
            document = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # any failure here means a damaged or foreign file
            raise ModelFileError(
                f"{where} is not a cdmtehr checkpoint, or it is damaged ({error}); delete it "
                "to train afresh, or choose another checkpoint file."
            ) from error
        ok = isinstance(document, dict) and document.get("format") == FORMAT_NAME
        ok = ok and isinstance(document.get("training"), dict)
        ok = ok and all(key in document["training"] for key in _TRAINING_KEYS)
        if not ok or document.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{where} is not a checkpoint of this cdmtehr version; delete it to train "
                "afresh, or choose another checkpoint file."
            )
        self._check_fingerprint(document.get("fingerprint"), where)
        return document

    def _check_fingerprint(self, stored, where: str) -> None:
        if stored == self.fingerprint:
            return
        stored = stored if isinstance(stored, dict) else {}
        before, now = stored.get("parameters") or {}, self.fingerprint["parameters"]
        changed = [
            f"{name}={before.get(name)!r} (now {now.get(name)!r})"
            for name in sorted(set(before) | set(now))
            if before.get(name) != now.get(name)
        ]
        if stored.get("data") != self.fingerprint["data"]:
            shape = stored.get("shape") or ["?", "?"]
            changed.append(
                f"other data ({shape[0]} patients of up to {shape[1]} time steps; now "
                f"{self.fingerprint['shape'][0]} of up to {self.fingerprint['shape'][1]})"
            )
        raise InvalidParameterError(
            f"The checkpoint {where} was written by a fit with {'; '.join(changed)}; it resumes "
            "only a fit of the same data with the same parameters. Fit with those, delete the "
            "file to train afresh, or choose another checkpoint file."
        )


class _Interrupts:
    """Whether Ctrl-C was pressed while its interruption was held back."""

    requested = False

    def raise_if_requested(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


@contextlib.contextmanager
def held_interrupts(enabled: bool):
    """Hold Ctrl-C back until the end of the optimizer step, so that a checkpoint can be saved.

    Yields an object whose ``requested`` says that Ctrl-C was pressed; a second Ctrl-C stops at
    once. Only in the main thread and under Python's own handler (elsewhere, Ctrl-C stops at
    once and the last checkpoint is the one resumed).
    """
    interrupts = _Interrupts()
    if not (
        enabled
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ):
        yield interrupts
        return

    def hold(signum, frame):
        if interrupts.requested:
            raise KeyboardInterrupt
        interrupts.requested = True

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield interrupts
    finally:
        signal.signal(signal.SIGINT, previous)
