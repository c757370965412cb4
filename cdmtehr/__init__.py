"""cdmtehr: synthetic ICU time series from a continuous-time mixed-type diffusion model."""

__version__ = "0.1.0"

__all__ = ["__version__"]
