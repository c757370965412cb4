"""The data layer: long DataFrames <-> padded numpy arrays, reversibly (no torch here)."""

from .encoded import EncodedCohort
from .encoders import CategoricalEncoder, NumericEncoder
from .preprocessor import SequencePreprocessor
from .schema import ColumnRoles

__all__ = [
    "CategoricalEncoder",
    "ColumnRoles",
    "EncodedCohort",
    "NumericEncoder",
    "SequencePreprocessor",
]
