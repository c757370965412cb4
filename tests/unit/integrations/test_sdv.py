"""SDV drop-in: metadata in, fit(data), sample_sequences; both SDV table conventions."""

import pandas as pd
import pytest
from helpers.frames import TINY

from cdmtehr import CDMTSynthesizer
from cdmtehr.exceptions import InvalidParameterError
from cdmtehr.integrations import roles_from_sdv_metadata

CONTEXT = ["Age", "Gender", "ICUType", "in_hospital_death"]


@pytest.fixture
def data(physionet_small):
    columns = ["patient_id", "hour", "HR", "MAP", "Lactate", "MechVent", *CONTEXT]
    return physionet_small[0][columns].copy()


def single_table_metadata():
    sdtypes = {"patient_id": "id", "hour": "numerical", "HR": "numerical", "MAP": "numerical",
               "Lactate": "numerical", "MechVent": "categorical", "Age": "numerical",
               "Gender": "categorical", "ICUType": "categorical",
               "in_hospital_death": "categorical"}
    return {
        "METADATA_SPEC_VERSION": "SINGLE_TABLE_V1",
        "columns": {c: {"sdtype": s} for c, s in sdtypes.items()},
        "sequence_key": "patient_id",
        "sequence_index": "hour",
    }


def test_roles_from_metadata():
    name, roles = roles_from_sdv_metadata(single_table_metadata(), CONTEXT, "in_hospital_death")
    assert name is None
    assert roles == {
        "id_col": "patient_id",
        "time_col": "hour",
        "num_cols": ["HR", "MAP", "Lactate"],
        "cat_cols": ["MechVent"],
        "static_cols": ["Age", "Gender", "ICUType"],
        "condition_col": "in_hospital_death",
    }


def test_metadata_without_sequence_key_is_refused():
    metadata = single_table_metadata()
    del metadata["sequence_key"]
    with pytest.raises(InvalidParameterError, match="sequence_key"):
        CDMTSynthesizer.from_sdv_metadata(metadata)


def test_sdv1_style_dataframe_in_dataframe_out(data):
    synth = CDMTSynthesizer.from_sdv_metadata(
        single_table_metadata(), context_columns=CONTEXT, **TINY
    )
    out = synth.fit(data).sample_sequences(5, sequence_length=10)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(data.columns)
    assert out.groupby("patient_id").size().max() <= 10
    assert list(synth.get_loss_values().columns) == ["Epoch", "Loss"]


def test_sdv2_style_dict_in_dict_out(data):
    metadata = {"METADATA_SPEC_VERSION": "V1", "relationships": [],
                "tables": {"stays": single_table_metadata()}}
    synth = CDMTSynthesizer.from_sdv_metadata(
        metadata, context_columns=CONTEXT, condition_column="in_hospital_death", **TINY
    )
    out = synth.fit({"stays": data}).sample_sequences(4, condition=1, random_state=0)
    assert set(out) == {"stays"}
    assert (out["stays"]["in_hospital_death"] == 1).all()


def test_same_pipeline_as_sdv_par_with_one_line_changed(data):
    sdv = pytest.importorskip("sdv")
    from sdv.metadata import Metadata
    from sdv.sequential import PARSynthesizer

    metadata = Metadata.detect_from_dataframes({"stays": data})
    metadata.update_column(table_name="stays", column_name="patient_id", sdtype="id")
    metadata.set_sequence_key(table_name="stays", column_name="patient_id")
    metadata.set_sequence_index(table_name="stays", column_name="hour")
    outputs = []
    for make in (
        lambda: PARSynthesizer(metadata, epochs=1, context_columns=CONTEXT),
        lambda: CDMTSynthesizer.from_sdv_metadata(metadata, context_columns=CONTEXT, **TINY),
    ):
        synthesizer = make()  # the one line that changes
        tables = {"stays": data} if sdv.__version__.startswith("2") else data
        synthesizer.fit(tables)
        outputs.append(synthesizer.sample_sequences(num_sequences=3, sequence_length=5))
    for out in outputs:
        frame = out["stays"] if isinstance(out, dict) else out
        assert set(frame.columns) == set(data.columns)
        assert frame["patient_id"].nunique() == 3


def test_single_table_metadata_with_dict_returns_the_callers_key(data):
    synth = CDMTSynthesizer.from_sdv_metadata(single_table_metadata(), context_columns=CONTEXT, **TINY)
    out = synth.fit({"stays": data}).sample_sequences(2)
    assert set(out) == {"stays"}
