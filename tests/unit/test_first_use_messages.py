"""What a first fit says: no torch noise from empty blocks, no warnings before a role error."""

import warnings

import numpy as np
import pandas as pd
import pytest

from cdmtehr import CDMTSynthesizer
from cdmtehr._validation import close_names
from cdmtehr.diffusion.network import BiGRUNetwork
from cdmtehr.exceptions import InvalidDataError


def _long_frame(n_patients=12, length=4, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "patient_id": np.repeat(np.arange(n_patients), length),
            "hour": np.tile(np.arange(length), n_patients),
            "HR": rng.normal(80, 10, n_patients * length),
            "Lactate": rng.gamma(2.0, 1.0, n_patients * length),
        }
    )


def test_a_network_with_empty_blocks_builds_without_torch_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BiGRUNetwork(
            temporal_in=3, static_in=0, temporal_out=0, static_out=0, max_length=4,
            n_classes=0, hidden_size=8, pooled_inputs=0, smoothed_features=0,
        )  # fmt: skip


def test_fitting_without_static_columns_emits_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CDMTSynthesizer(epochs=1, hidden_size=8, random_state=0, verbose=False).fit(
            _long_frame(), id_col="patient_id", time_col="hour", static_cols=[]
        )


@pytest.mark.parametrize(
    "roles",
    [
        {"id_col": "PatientID", "time_col": "hour"},
        {"id_col": "patient_id", "time_col": "hour", "num_cols": ["HeartRate"]},
    ],
)
def test_a_misnamed_column_is_an_error_without_a_no_role_warning_first(roles):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidDataError):
            CDMTSynthesizer(epochs=1, verbose=False).fit(_long_frame(), **roles)


def test_a_suggestion_is_close_in_spelling_or_absent():
    names = ["patient_id", "hour", "HR", "Lactate", "Glucose"]
    assert close_names("HeartRate", names) == []
    assert close_names("lactat", names) == ["Lactate"]
    assert close_names("PatientID", names) == ["patient_id"]
    with pytest.raises(InvalidDataError) as error:
        CDMTSynthesizer(epochs=1, verbose=False).fit(
            _long_frame(), id_col="patient_id", time_col="hour", num_cols=["HeartRate"]
        )
    assert "did you mean" not in str(error.value)
