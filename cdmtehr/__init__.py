"""cdmtehr: synthetic ICU time series from a continuous-time mixed-type diffusion model."""

import os

# torch's OpenMP threads otherwise spin-wait on cores that other processes need: on a busy
# 2-core machine the same sample(5) took 18.9 s once and 0.4 s the next time. Passive threads
# sleep while they wait. It must be set before torch loads; a value the user set (or a torch
# imported before cdmtehr) takes precedence.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._version import __version__  # noqa: E402
from .synthesizer import CDMTSynthesizer  # noqa: E402

__all__ = ["CDMTSynthesizer", "__version__"]
