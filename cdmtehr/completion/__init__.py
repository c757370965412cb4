"""Conditional completion from a fitted model: sample given columns, forecast, impute.

What is known of each patient is encoded as training data and held fixed in the sampler by
replacement (`cdmtehr.sampling.inpainting`); the rest is drawn given it, with no retraining.
"""

from .api import forecast, impute, sample_given
from .known import KnownPatients, known_patients

__all__ = ["KnownPatients", "forecast", "impute", "known_patients", "sample_given"]
