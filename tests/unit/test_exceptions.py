"""The hierarchy users catch: every error is a CDMTError and the builtin it documents."""

import inspect

import pytest
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

from cdmtehr import exceptions
from cdmtehr.exceptions import (
    CDMTError,
    CDMTWarning,
    DataWarning,
    InvalidDataError,
    InvalidDataTypeError,
    InvalidParameterError,
    ModelFileError,
    NotFittedError,
    PrivacyWarning,
)


@pytest.mark.parametrize(
    "error, builtin",
    [
        (InvalidDataError, ValueError),
        (InvalidDataTypeError, TypeError),
        (InvalidParameterError, ValueError),
        (ModelFileError, ValueError),
        (NotFittedError, SklearnNotFittedError),
        (NotFittedError, ValueError),
        (NotFittedError, AttributeError),
    ],
)
def test_each_error_is_a_cdmt_error_and_its_documented_builtin(error, builtin):
    assert issubclass(error, CDMTError) and issubclass(error, builtin)
    raised = error(["a problem"]) if error is InvalidDataError else error("a problem")
    with pytest.raises(builtin):
        raise raised
    with pytest.raises(CDMTError):
        raise raised


def test_errors_are_not_warnings_and_warnings_not_errors():
    assert issubclass(CDMTError, Exception) and not issubclass(CDMTError, Warning)
    assert issubclass(CDMTWarning, UserWarning) and not issubclass(CDMTWarning, CDMTError)
    assert issubclass(DataWarning, CDMTWarning) and issubclass(PrivacyWarning, CDMTWarning)
    assert not issubclass(DataWarning, PrivacyWarning)
    assert not issubclass(PrivacyWarning, DataWarning)


def test_every_class_of_the_module_is_in_the_hierarchy():
    own = [
        cls for _, cls in inspect.getmembers(exceptions, inspect.isclass)
        if cls.__module__ == exceptions.__name__
    ]
    assert len(own) == 9
    for cls in own:
        assert issubclass(cls, (CDMTError, CDMTWarning)), cls.__name__


def test_invalid_data_error_lists_every_problem():
    problems = (p for p in ["column 'hr' is not numeric", "column 'id' is missing"])
    error = InvalidDataError(problems)
    assert error.problems == ["column 'hr' is not numeric", "column 'id' is missing"]
    message = str(error)
    assert message.splitlines() == [
        "The data does not match the column roles:",
        "  - column 'hr' is not numeric",
        "  - column 'id' is missing",
    ]


def test_invalid_data_error_keeps_its_own_copy_of_the_problems():
    problems = ["one"]
    error = InvalidDataError(problems)
    problems.append("two")
    assert error.problems == ["one"]
