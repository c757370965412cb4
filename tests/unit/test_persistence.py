"""The model-file codec (attribute trees round-trip, types outside the registry are refused),
the migration of model files between format versions, what a file holds (registry names, not
class paths: a file loads where the classes have moved), pickles of other versions."""

import copy
import io
import json
import pickle
import shutil
import subprocess
import sys
import uuid
import zipfile

import numpy as np
import pandas as pd
import pytest
from helpers.model_files import as_version_6, edit_manifest, object_states
from sklearn.preprocessing import QuantileTransformer

from cdmtehr import CDMTSynthesizer, __version__, persistence
from cdmtehr.exceptions import CDMTWarning, ModelFileError
from cdmtehr.persistence import FORMAT_VERSION, MEMBERS, _TYPES, _Decoder, _Encoder, migrate


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


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_a_quantile_transformer_is_stored_as_its_public_arrays_and_rebuilt(distribution):
    rng = np.random.default_rng(0)
    data = rng.lognormal(size=(500, 1))
    fitted = QuantileTransformer(n_quantiles=100, output_distribution=distribution).fit(data)
    encoder = _Encoder()
    stored = encoder(fitted)
    assert stored["__type__"] == "QuantileTransformer"
    assert sorted(key for key, _ in stored["state"]["__items__"]) == [
        "copy", "ignore_implicit_zeros", "n_quantiles", "output_distribution", "quantiles_",
        "references_", "subsample",
    ]
    assert "sklearn" not in json.dumps(stored)
    restored = roundtrip(fitted)
    assert type(restored) is QuantileTransformer and restored is not fitted
    assert restored.n_quantiles_ == fitted.n_quantiles_ == 100
    assert restored.n_features_in_ == 1
    params = {**fitted.get_params(), "random_state": None}  # read by fit alone: not kept
    assert restored.get_params() == params
    # Values inside, outside and at the edges of the fitted range, ties and a missing value.
    values = np.concatenate([data[:, 0], rng.normal(size=200) * 10, fitted.quantiles_[:, 0],
                             [np.nan]])[:, None]
    forward = fitted.transform(values)
    assert restored.transform(values).tobytes() == forward.tobytes()
    back = forward[np.isfinite(forward[:, 0])]
    assert restored.inverse_transform(back).tobytes() == fitted.inverse_transform(back).tobytes()


def test_an_encoders_quantile_transformer_round_trips_bitwise(tiny_model):
    """The encoders replace the fitted quantiles by pooled ones: what they hold is kept."""
    for encoder in tiny_model.preprocessor_.numeric_encoders_:
        restored = roundtrip(encoder)
        assert type(restored.quantile_transformer_) is QuantileTransformer
        values = np.linspace(encoder.min_ - 1, encoder.max_ + 1, 101)
        scores = encoder.transform(values)
        assert restored.transform(values).tobytes() == scores.tobytes()
        pd.testing.assert_series_equal(restored.inverse_transform(scores),
                                       encoder.inverse_transform(scores))


@pytest.mark.parametrize(
    "edit",
    [
        lambda state: state.update(output_distribution="exotic"),
        lambda state: state.update(output_distribution=np.zeros(2)),
        lambda state: state.update(quantiles_=np.zeros(5)),
        lambda state: state.update(references_=np.linspace(0, 1, 4)),
        lambda state: state.update(quantiles_=np.zeros((5, 1), dtype=np.int64)),
        lambda state: state.update(n_quantiles=True),
        lambda state: state.update(subsample=-1),
        lambda state: state.update(random_state=0),
        lambda state: state.pop("references_"),
    ],
)
def test_a_malformed_quantile_transformer_state_is_refused(edit):
    state = {"n_quantiles": 5, "output_distribution": "normal", "ignore_implicit_zeros": False,
             "subsample": None, "copy": True, "references_": np.linspace(0, 1, 5),
             "quantiles_": np.arange(5.0)[:, None]}
    encoder = _Encoder()
    entry = {"__type__": "QuantileTransformer", "state": encoder(state)}
    assert isinstance(_Decoder(dict(encoder.arrays))(entry), QuantileTransformer)
    edit(state)
    encoder = _Encoder()
    entry = {"__type__": "QuantileTransformer", "state": encoder(state)}
    with pytest.raises(ModelFileError, match="malformed state for type 'QuantileTransformer'"):
        _Decoder(dict(encoder.arrays))(entry)


def test_codec_refuses_types_outside_the_registry():
    with pytest.raises(TypeError, match="cannot store"):
        _Encoder()(object())

    class Subclass(QuantileTransformer):
        pass

    with pytest.raises(TypeError, match="cannot store"):  # the exact class, not a subclass
        _Encoder()(Subclass())
    names = ["os.system", "builtins.eval", "cdmtehr.persistence.Path", "subprocess.Popen",
             "this.X", "cdmtehr.__main__.X", "Path", "__builtins__",
             # class paths, which files before version 6 held, are no names of the registry
             "cdmtehr.preprocessing.encoders.NumericEncoder",
             "sklearn.preprocessing._data.QuantileTransformer"]
    modules = set(sys.modules)
    for name in names:
        entry = {"__type__": name, "state": {"__items__": []}}
        with pytest.raises(ModelFileError, match="never stores"):
            _Decoder({})(entry)
    for name in [["NumericEncoder"], {"__items__": []}, None, 3]:
        with pytest.raises(ModelFileError, match="never stores"):
            _Decoder({})({"__type__": name, "state": {"__items__": []}})
    with pytest.raises(ModelFileError, match="Unknown entry"):  # the key of older versions
        _Decoder({})({"__object__": "cdmtehr.roles.ColumnRoles", "state": {"__items__": []}})
    assert set(sys.modules) == modules  # nothing was imported on a file's say-so


def test_the_registry_holds_the_fitted_types_under_their_own_names():
    assert sorted(_TYPES) == [
        "CategoricalEncoder", "ChartingModel", "ClassProfiles", "ColumnRoles", "LeafTree",
        "NumericEncoder", "ProfileTrees", "QuantileTransformer", "SequencePreprocessor",
        "TimeGrid",
    ]
    assert all(cls.__name__ == name for name, cls in _TYPES.items())


# Run in a fresh interpreter: every registered class moves to another module under another
# name, the modules that defined them can no longer be imported, and the file still loads and
# samples; the model is then saved again from there.
MOVED = """
import pickle, sys
import cdmtehr
from cdmtehr import CDMTSynthesizer
from cdmtehr.persistence import _TYPES
import cdmtehr.completion  # what sampling imports, before the classes' modules go

for name, cls in _TYPES.items():
    sys.modules[cls.__module__] = None  # importing the old path now fails
    cls.__module__, cls.__qualname__ = "moved.elsewhere", "Renamed" + name
    cls.__name__ = "Renamed" + name
synth = CDMTSynthesizer.load(sys.argv[1])
with open(sys.argv[2], "wb") as out:
    pickle.dump(synth.sample(4, random_state=0), out)
synth.save(sys.argv[3])
"""


def _manifest(path):
    with zipfile.ZipFile(path) as archive:
        return archive.read("manifest.json").decode()


def test_a_file_loads_after_its_classes_move_and_names_no_class_path(tiny_gappy_model_file,
                                                                   tmp_path):
    sample, resaved = tmp_path / "sample.pkl", tmp_path / "resaved.cdmt"
    subprocess.run([sys.executable, "-c", MOVED, str(tiny_gappy_model_file), str(sample),
                    str(resaved)], check=True, timeout=300)
    reference = CDMTSynthesizer.load(tiny_gappy_model_file).sample(4, random_state=0)
    with open(sample, "rb") as file:
        assert pickle.load(file).equals(reference)
    # Saved where the classes had moved, the file is the same and loads here.
    assert json.loads(_manifest(resaved)) == json.loads(_manifest(tiny_gappy_model_file))
    assert CDMTSynthesizer.load(resaved).sample(4, random_state=0).equals(reference)
    text = _manifest(tiny_gappy_model_file)
    assert "sklearn." not in text and "cdmtehr." not in text and "__object__" not in text
    assert _type_names(text) == set(_TYPES)  # the file holds every registered type


def _type_names(text):
    names = set()

    def hook(node):
        if "__type__" in node:
            names.add(node["__type__"])
        return node

    json.loads(text, object_hook=hook)
    return names


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


# -- format version 7 ----------------------------------------------------------------------------
def test_a_version_6_file_loads_without_its_checkpoint_and_with_its_clipping(
    tiny_model, tiny_model_file, tmp_path
):
    path = tmp_path / "version_6.cdmt"
    shutil.copy(tiny_model_file, path)

    def as_written_by_version_6(manifest):
        manifest["params"]["max_grad_norm"] = 0.5
        as_version_6(manifest, checkpoint_path="fit.ckpt", checkpoint_interval=60.0)

    edit_manifest(path, as_written_by_version_6)
    assert '"checkpoint_path": "fit.ckpt"' in _manifest(path)
    synth = CDMTSynthesizer.load(path)
    params = synth.get_params()
    assert "checkpoint_path" not in params and "checkpoint_interval" not in params
    assert params["max_grad_norm"] == 0.5 and params["dp_max_grad_norm"] == 1.0
    assert synth.sample(3, random_state=0).equals(tiny_model.sample(3, random_state=0))
    resaved = tmp_path / "resaved.cdmt"
    synth.save(resaved)
    manifest = json.loads(_manifest(resaved))
    assert manifest["format_version"] == FORMAT_VERSION == 8
    assert manifest["params"] == {**tiny_model.get_params(), "max_grad_norm": 0.5}


def test_a_private_version_6_file_keeps_its_clipping_as_dp_max_grad_norm():
    """Under differential privacy the one max_grad_norm of version 6 clipped each patient's
    gradient; the batch clipping it now names was never applied to private training."""
    params = {"dp_epsilon": 2.0, "max_grad_norm": 0.3, "checkpoint_path": None,
              "checkpoint_interval": 300.0}
    document = {"manifest": {"format_version": 6, "params": params}, "arrays": b"",
                "weights": b""}
    migrated = migrate(document)["manifest"]
    assert migrated["format_version"] == FORMAT_VERSION
    assert migrated["params"] == {"dp_epsilon": 2.0, "dp_max_grad_norm": 0.3,
                                  "max_grad_norm": 1.0}


# -- format version 8 ----------------------------------------------------------------------------
def _without_charting(manifest):
    """A current manifest as version 7 wrote it: a first stage with no charting model."""
    for items in object_states(manifest, "ClassProfiles"):
        items[:] = [item for item in items if item[0] != "charting"]
    manifest["format_version"] = 7


def test_a_version_7_file_draws_its_counts_without_charts(tiny_gappy_model,
                                                              tiny_gappy_model_file, tmp_path):
    path = tmp_path / "version_7.cdmt"
    shutil.copy(tiny_gappy_model_file, path)
    assert '"ChartingModel"' in _manifest(path)
    edit_manifest(path, _without_charting)
    assert '"ChartingModel"' not in _manifest(path)
    synth = CDMTSynthesizer.load(path)
    assert synth.profile_model_ is not None and synth.profile_model_.charting is None
    counts_only = copy.deepcopy(tiny_gappy_model)
    counts_only.profile_model_.charting = None
    assert synth.sample(5, random_state=0).equals(counts_only.sample(5, random_state=0))
    resaved = tmp_path / "resaved.cdmt"
    synth.save(resaved)
    assert json.loads(_manifest(resaved))["format_version"] == FORMAT_VERSION


def test_a_charting_model_whose_sizes_do_not_match_its_weights_is_refused(
        tiny_gappy_model_file, tmp_path):
    def doctor(manifest):
        [state] = object_states(manifest, "ChartingModel")
        config = next(item for item in state if item[0] == "config")[1]["__items__"]
        for item in config:
            if item[0] == "context_size":
                item[1] += 1

    path = tmp_path / "doctored.cdmt"
    shutil.copy(tiny_gappy_model_file, path)
    edit_manifest(path, doctor)
    with pytest.raises(ModelFileError, match="charting model"):
        CDMTSynthesizer.load(path)


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
