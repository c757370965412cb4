"""cdmtehr: synthetic ICU time series from a continuous-time mixed-type diffusion model."""

from . import _threads  # first: sets torch's OpenMP wait policy before torch loads
from ._version import __version__
from .synthesizer import CDMTSynthesizer

__all__ = ["CDMTSynthesizer", "__version__"]
