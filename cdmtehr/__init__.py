"""cdmtehr: synthetic ICU time series from a continuous-time mixed-type diffusion model.

Importing it loads no torch and changes no setting of the process: torch is imported by the
first fit or load of `CDMTSynthesizer`, after its thread policy is set (see its Notes).
"""

from ._version import __version__
from .synthesizer import CDMTSynthesizer

__all__ = ["CDMTSynthesizer", "__version__"]
