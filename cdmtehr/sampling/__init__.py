"""Samplers of the probability-flow ODE / reverse SDE, and classifier-free guidance, self-conditioning."""

from .guidance import classifier_free_guidance
from .samplers import SAMPLERS, sample_euler, sample_heun, sample_sde
from .self_conditioning import self_conditioned

__all__ = [
    "SAMPLERS",
    "classifier_free_guidance",
    "sample_euler",
    "sample_heun",
    "sample_sde",
    "self_conditioned",
]
