"""The model-file codec (attribute trees round-trip, foreign classes are refused), the
migration of model files between format versions, what a file holds, pickles of other versions."""

import io
import json
import uuid
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import QuantileTransformer

from cdmtehr import CDMTSynthesizer, __version__, persistence
from cdmtehr.exceptions import CDMTWarning, ModelFileError
from cdmtehr.persistence import FORMAT_VERSION, MEMBERS, _Decoder, _Encoder, migrate


def roundtrip(value):
    encoder = _Encoder()
    text = json.dumps(encoder(value))  # must be plain JSON
    return _Decoder(dict(encoder.arrays))(json.loads(text))


def test_codec_roundtrips_plain_values_arrays_and_dtypes():
    value = {
        "ints": [1, 2, 3],
        "tuple": (1.5, "a", None, True),
        "nan": float("nan"),
        "array": np.arange(6, dtype=np.int16).reshape(2, 3),
        "objects": np.array(["a", None, 3], dtype=object),
        "scalar": np.float32(2.5),
        1: "int key",
        "catdtype": pd.CategoricalDtype(["x", "y"], ordered=True),
        "tz": pd.DatetimeTZDtype(tz="Europe/Paris"),
        "dtype": np.dtype("int8"),
        "string": pd.StringDtype(),
        "index": pd.Index(["b", "a"]),
        "time": pd.Timestamp("2020-01-01 10:00", tz="UTC"),
        "delta": pd.Timedelta(hours=3),
        "uuid": uuid.UUID(int=7),
    }
    back = roundtrip(value)
    assert back["ints"] == [1, 2, 3] and back["tuple"] == (1.5, "a", None, True)
    assert np.isnan(back["nan"])
    np.testing.assert_array_equal(back["array"], value["array"])
    assert back["array"].dtype == np.int16
    assert list(back["objects"]) == ["a", None, 3]
    assert back["scalar"] == np.float32(2.5) and isinstance(back["scalar"], np.float32)
    assert back[1] == "int key"
    assert back["catdtype"] == value["catdtype"]
    assert back["tz"] == value["tz"] and back["dtype"] == np.int8
    assert back["string"] == pd.StringDtype()
    pd.testing.assert_index_equal(back["index"], value["index"])
    assert back["time"] == value["time"] and back["delta"] == value["delta"]
    assert back["uuid"] == value["uuid"]


def test_codec_roundtrips_a_fitted_quantile_transformer():
    data = np.random.default_rng(0).lognormal(size=(500, 1))
    fitted = QuantileTransformer(n_quantiles=100, output_distribution="normal").fit(data)
    restored = roundtrip(fitted)
    np.testing.assert_array_equal(restored.transform(data), fitted.transform(data))


def test_codec_refuses_classes_outside_the_allow_list():
    with pytest.raises(TypeError, match="cannot store"):
        _Encoder()(object())
    for name in ["os.system", "builtins.eval", "cdmtehr.persistence.Path", "subprocess.Popen"]:
        entry = {"__object__": name, "state": {"__items__": []}}
        with pytest.raises(ModelFileError, match="never stores"):
            _Decoder({})(entry)


def document(version):
    return {"manifest": {"format_version": version, "x": 1}, "arrays": b"a", "weights": b"w"}


def test_migrate_passes_a_file_of_the_current_version_unchanged():
    assert migrate(document(FORMAT_VERSION)) == document(FORMAT_VERSION)


@pytest.mark.parametrize(
    "version, message",
    [
        (FORMAT_VERSION + 1, "newer than this cdmtehr .* Upgrade cdmtehr"),
        (0, "invalid model format version 0"),
        ("1", "invalid model format version '1'"),
        (True, "invalid model format version True"),
        (None, "invalid model format version None"),
    ],
)
def test_migrate_refuses_newer_and_invalid_versions(version, message):
    with pytest.raises(ModelFileError, match=message):
        migrate(document(version))


def test_migrate_runs_every_step_from_the_files_version(monkeypatch):
    def step(name):
        def apply(doc):
            doc["manifest"][name] = True
            return doc

        return apply

    current = FORMAT_VERSION + 2
    monkeypatch.setattr(persistence, "FORMAT_VERSION", current)
    monkeypatch.setattr(
        persistence, "_MIGRATIONS", {v: step(f"from_{v}") for v in range(1, current)}
    )
    migrated = migrate(document(FORMAT_VERSION))
    assert migrated["manifest"]["format_version"] == current
    assert [k for k in migrated["manifest"] if k.startswith("from_")] == [
        f"from_{v}" for v in range(FORMAT_VERSION, current)
    ]


def test_model_file_holds_a_format_version_and_no_pickle(tiny_model_file):
    with zipfile.ZipFile(tiny_model_file) as archive:
        assert sorted(archive.namelist()) == sorted(MEMBERS)
        manifest = json.loads(archive.read("manifest.json"))
        arrays = archive.read("arrays.npz")
    assert manifest["format"] == "cdmtehr-model"
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["cdmtehr_version"] == __version__
    with np.load(io.BytesIO(arrays), allow_pickle=False) as loaded:  # no object arrays
        assert all(loaded[key].dtype != object for key in loaded.files)


def test_pickle_from_another_version_warns_and_still_samples(tiny_model):
    synth = tiny_model
    state = synth.__getstate__()
    state["_cdmtehr_version"] = "0.0.1"
    restored = CDMTSynthesizer.__new__(CDMTSynthesizer)

    with pytest.warns(CDMTWarning, match="pickled with cdmtehr 0.0.1"):
        restored.__setstate__(state)

    pd.testing.assert_frame_equal(restored.sample(3, steps=2, random_state=1),
                                  synth.sample(3, steps=2, random_state=1))
