"""Evaluation of synthetic ICU time series: fidelity, care, discrimination, utility, privacy.

Reads long DataFrames only (one row per patient and time step), so it scores any generator.
"""

from ._evaluate import EvaluationResult, evaluate, real_vs_real
from ._glossary import METRICS
from .care import CareStatistics, care_statistics
from .features import patient_features
from .membership import MembershipInference, membership_inference
from .report import write_report

__all__ = [
    "METRICS",
    "CareStatistics",
    "EvaluationResult",
    "MembershipInference",
    "care_statistics",
    "evaluate",
    "membership_inference",
    "patient_features",
    "real_vs_real",
    "write_report",
]
