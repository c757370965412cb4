"""Atomic file writes: a file is replaced whole or not at all (model files, checkpoints)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path, write) -> None:
    """Call ``write(file)`` on a temporary file next to `path`, then put it in `path`'s place.

    The bytes are flushed to the disk (fsync) before the rename, and the rename replaces the
    old file in one step: a full disk, a file-size limit or a crash while writing leaves the
    previous file at `path` whole (and no temporary file behind), never a truncated one.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
