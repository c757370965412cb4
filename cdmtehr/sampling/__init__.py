"""Sampling: samplers, classifier-free guidance, and `generate`, which runs them chunk by chunk."""

from .generation import generate
from .guidance import classifier_free_guidance
from .samplers import SAMPLERS, sample_euler, sample_heun, sample_sde

__all__ = [
    "SAMPLERS",
    "classifier_free_guidance",
    "generate",
    "sample_euler",
    "sample_heun",
    "sample_sde",
]
