"""cdmtehr: synthetic ICU time series from a continuous-time mixed-type diffusion model."""

__version__ = "0.1.0"

from .synthesizer import CDMTSynthesizer  # noqa: E402  (needs __version__ above)

__all__ = ["CDMTSynthesizer", "__version__"]
