"""Exceptions and warnings raised by cdmtehr."""

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


class CDMTError(Exception):
    """Base class of every error raised on purpose by cdmtehr."""


class InvalidDataError(CDMTError, ValueError):
    """The input DataFrame does not fit the column roles.

    Collects every problem found, so that the caller can fix them in one round.

    Parameters
    ----------
    problems : list of str
        One sentence per problem, each naming the column concerned.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"The data does not match the column roles:\n{lines}")


class InvalidDataTypeError(CDMTError, TypeError):
    """An argument or column has a type that cannot be used (e.g. not a DataFrame)."""


class InvalidParameterError(CDMTError, ValueError):
    """A hyper-parameter or argument of a public method has an invalid value."""


class NotFittedError(CDMTError, _SklearnNotFittedError):
    """The synthesizer is used before `fit` was called."""


class ModelFileError(CDMTError, ValueError):
    """A model file is not a cdmtehr model, is corrupt, or comes from a newer version."""


class CDMTWarning(UserWarning):
    """Base class of cdmtehr's warnings."""


class DataWarning(CDMTWarning):
    """Something in the data deserves the caller's attention (ignored columns, sparse columns)."""


class PrivacyWarning(CDMTWarning):
    """A privacy guarantee is weaker than it may look (what epsilon does not cover)."""
