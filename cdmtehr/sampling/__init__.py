"""Sampling: samplers, classifier-free guidance, and `generate`, which runs them chunk by chunk."""

from .generation import generate, generate_stays
from .guidance import classifier_free_guidance
from .samplers import SAMPLERS, sample_dpmpp_2m, sample_euler, sample_heun, sample_sde

__all__ = [
    "SAMPLERS",
    "classifier_free_guidance",
    "generate",
    "generate_stays",
    "sample_dpmpp_2m",
    "sample_euler",
    "sample_heun",
    "sample_sde",
]
