"""Sampling from a fitted model, with or without what is known: sample (given columns),
forecast, impute.

What is known of each patient is encoded as training data and held fixed in the sampler by
replacement (`cdmtehr.sampling.inpainting`); the rest is drawn given it, with no retraining.
"""

from .api import forecast, generated_cohorts, impute, sample, sample_chunks
from .known import KnownPatients, known_patients

__all__ = [
    "KnownPatients",
    "forecast",
    "generated_cohorts",
    "impute",
    "known_patients",
    "sample",
    "sample_chunks",
]
