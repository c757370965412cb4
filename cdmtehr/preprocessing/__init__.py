"""The data layer: long DataFrames <-> padded numpy arrays, reversibly (no torch here)."""

from ..roles import ColumnRoles
from .encoded import EncodedCohort
from .encoders import CategoricalEncoder, NumericEncoder
from .preprocessor import SequencePreprocessor

__all__ = [
    "CategoricalEncoder",
    "ColumnRoles",
    "EncodedCohort",
    "NumericEncoder",
    "SequencePreprocessor",
]
