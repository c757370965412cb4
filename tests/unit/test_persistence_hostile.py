"""Model files under hostile or unlucky conditions: bounded memory on load, atomic saves."""

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from helpers.frames import ROLES, TINY, cohort
from helpers.model_files import CLASS_PATHS, as_class_paths, as_version_6, object_states

from cdmtehr import CDMTSynthesizer
from cdmtehr import persistence
from cdmtehr.disclosure import MIN_PATIENTS
from cdmtehr.exceptions import CDMTWarning, ModelFileError
from cdmtehr.persistence import FORMAT_VERSION, migrate


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    df = cohort(n_patients=6, length=3)
    df["y"] = np.where(df["pid"] < 3, "u", "v")
    path = tmp_path_factory.mktemp("model") / "model.cdmt"
    CDMTSynthesizer(**TINY).fit(df, **ROLES, condition_col="y").save(path)
    return path


def read_parts(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_parts(path, parts, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def edited(model_file, tmp_path, edit_manifest=None, edit_weights=None):
    parts = read_parts(model_file)
    if edit_manifest is not None:
        manifest = json.loads(parts["manifest.json"])
        edit_manifest(manifest)
        parts["manifest.json"] = json.dumps(manifest).encode()
    if edit_weights is not None:
        weights = torch.load(io.BytesIO(parts["weights.pt"]), weights_only=True)
        edit_weights(weights)
        buffer = io.BytesIO()
        torch.save(weights, buffer)
        parts["weights.pt"] = buffer.getvalue()
    path = tmp_path / "edited.cdmt"
    write_parts(path, parts)
    return path


# -- declared sizes against the arrays present ---------------------------------------------------
def _set_denoiser(manifest, key, value):
    for item in manifest["denoiser"]["__items__"]:
        if item[0] == key:
            item[1] = value


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["layout"].update(max_length=10_000), "max_length=10000"),
        (lambda m: _set_denoiser(m, "hidden_size", 4096), "hidden_size=4096"),
        (lambda m: _set_denoiser(m, "n_classes", 100_000), "n_classes=100000"),
    ],
)
def test_sizes_the_manifest_declares_must_match_the_weights(model_file, tmp_path, edit, message):
    path = edited(model_file, tmp_path, edit_manifest=edit)
    with pytest.raises(ModelFileError, match=message):
        CDMTSynthesizer.load(path)


def test_weights_of_other_shapes_are_refused_before_the_model_is_built(model_file, tmp_path):
    def widen(weights):
        name = "network.input_projection.weight"
        weights["model"][name] = torch.zeros(weights["model"][name].shape[0], 999)

    path = edited(model_file, tmp_path, edit_weights=widen)
    with pytest.raises(ModelFileError, match="shapes of its model weights"):
        CDMTSynthesizer.load(path)


# -- inflation caps ------------------------------------------------------------------------------
def test_a_member_that_inflates_out_of_proportion_is_refused_before_it_is_read(
    model_file, tmp_path, monkeypatch
):
    parts = read_parts(model_file)
    parts["arrays.npz"] = parts["arrays.npz"] + bytes(4 << 20)  # zeros: a 1000:1 ratio
    path = tmp_path / "bomb.cdmt"
    write_parts(path, parts)
    read = []
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name: read.append(name))
    with pytest.raises(ModelFileError, match="'arrays.npz' would inflate"):
        CDMTSynthesizer.load(path)
    assert read == []


def test_arrays_compressed_inside_their_own_archive_are_refused(model_file, tmp_path):
    parts = read_parts(model_file)
    with zipfile.ZipFile(io.BytesIO(parts["arrays.npz"])) as inner:
        arrays = {name: inner.read(name) for name in inner.namelist()}
    buffer = io.BytesIO()
    write_parts(buffer, arrays)  # deflated members: a second layer that could inflate
    parts["arrays.npz"] = buffer.getvalue()
    path = tmp_path / "nested.cdmt"
    write_parts(path, parts)
    with pytest.raises(ModelFileError, match="compressed twice"):
        CDMTSynthesizer.load(path)


# -- fitted values that sample relies on ---------------------------------------------------------
def _edit_fitted(manifest, key, new_value):
    for item in manifest["fitted"]["__items__"]:
        if item[0] == key:
            item[1] = new_value


@pytest.mark.parametrize(
    "prior",
    [[0.5, 0.7], [1.5, -0.5], [1.0], ["nan", "nan"]],
)
def test_a_tampered_class_prior_fails_at_load(model_file, tmp_path, prior):
    def apply(manifest):
        values = [{"__float__": v} if isinstance(v, str) else v for v in prior]
        _edit_fitted(manifest, "class_prior_", {"__list__": values})

    path = edited(model_file, tmp_path, edit_manifest=apply)
    with pytest.raises(ModelFileError, match="class_prior_"):
        CDMTSynthesizer.load(path)


def _legacy_states(manifest, name):
    """`_object_states` of a manifest in the form of versions 1 to 5 (class paths)."""
    return object_states(manifest, CLASS_PATHS[name], key="__object__")


def _numeric_encoder_state(manifest):
    return object_states(manifest, "NumericEncoder")[0]


@pytest.mark.parametrize(
    "key, value",
    [("min_", 5.0), ("max_", {"__float__": "inf"}), ("min_", {"__float__": "nan"})],
)
def test_a_tampered_encoder_range_fails_at_load(model_file, tmp_path, key, value):
    def apply(manifest):
        for item in _numeric_encoder_state(manifest):
            if item[0] == key:
                item[1] = value

    path = edited(model_file, tmp_path, edit_manifest=apply)
    with pytest.raises(ModelFileError, match="encoder of column 'x'"):
        CDMTSynthesizer.load(path)


def test_an_encoder_range_off_by_float_rounding_loads(model_file, tmp_path):
    """A pooled knot (a mean) may pass the range it lies in by an ulp: not a damaged file."""
    def nudge(manifest):
        for item in _numeric_encoder_state(manifest):
            if item[0] == "max_":
                item[1] = float(np.nextafter(np.nextafter(item[1], -np.inf), -np.inf))

    synth = CDMTSynthesizer.load(edited(model_file, tmp_path, edit_manifest=nudge))
    encoder = synth.preprocessor_.numeric_encoders_[0]
    assert encoder.knot_values_[-1] > encoder.max_


# -- format version 2 ----------------------------------------------------------------------------
def test_version_1_files_gain_the_robust_scaling_attributes(model_file, tmp_path):
    def as_version_1(manifest):
        as_class_paths(manifest)
        manifest["format_version"] = 1
        items = _legacy_states(manifest, "NumericEncoder")[0]
        items[:] = [i for i in items if i[0] not in ("robust_center_", "robust_scale_")]

    path = edited(model_file, tmp_path, edit_manifest=as_version_1)
    manifest = json.loads(read_parts(path)["manifest.json"])
    document = migrate({"manifest": manifest, "arrays": b"", "weights": b""})
    items = dict(map(tuple, _numeric_encoder_state(document["manifest"])))
    assert items["robust_center_"] is None and items["robust_scale_"] is None
    assert document["manifest"]["format_version"] == FORMAT_VERSION
    synth = CDMTSynthesizer.load(path)
    assert synth.preprocessor_.numeric_encoders_[0].robust_scale_ is None
    assert len(synth.sample(2, random_state=0)) > 0


# -- format version 3 ----------------------------------------------------------------------------
def test_version_2_files_load_as_single_stage_models(tmp_path):
    source = tmp_path / "single_stage.cdmt"
    CDMTSynthesizer(**TINY, profile=False).fit(cohort(), **ROLES).save(source)

    def as_version_2(manifest):  # what a version-2 file holds: no profile anywhere
        as_class_paths(manifest)
        manifest["format_version"] = 2
        del manifest["params"]["profile"]
        items = manifest["denoiser"]["__items__"]
        items[:] = [item for item in items if item[0] != "profile"]
        fitted = manifest["fitted"]["__items__"]
        fitted[:] = [item for item in fitted if item[0] != "profile_model_"]

    path = edited(source, tmp_path, edit_manifest=as_version_2)
    synth = CDMTSynthesizer.load(path)
    assert synth.profile is False and synth.model_.config.profile is False
    assert synth.profile_model_ is None
    reference = CDMTSynthesizer.load(source).sample(3, random_state=0)
    assert synth.sample(3, random_state=0).equals(reference)


def test_a_two_stage_model_file_keeps_its_profile_trees(model_file):
    synth = CDMTSynthesizer.load(model_file)
    profiles = synth.profile_model_
    assert synth.model_.config.profile and list(profiles.classes) == [0, 1]
    trees = [tree for model in profiles.models for tree in model.trees_]
    assert trees and all(isinstance(tree.knots, np.ndarray) for tree in trees)


# -- format versions 4 and 5 ---------------------------------------------------------------------
def as_version(version):
    """A manifest edit that makes a current two-stage file look written at `version` (3 or 4):
    trees whose leaves keep their rows' values in a pool, and no min_patients_per_value."""
    def edit(manifest):
        as_class_paths(manifest)
        manifest["format_version"] = version
        del manifest["params"]["min_patients_per_value"]
        if version == 3:  # version-3 trees drew every column from its leaves alone
            for items in _legacy_states(manifest, "ProfileTrees"):
                items[:] = [i for i in items if i[0] not in ("anchors_", "orders_")]
    return edit


@pytest.mark.parametrize("version", [3, 4])
def test_older_profile_trees_are_dropped_on_load_with_a_warning(model_file, tmp_path, version):
    path = edited(model_file, tmp_path, edit_manifest=as_version(version))
    with pytest.warns(CDMTWarning, match="kept every training patient's profile"):
        synth = CDMTSynthesizer.load(path)
    assert synth.profile_model_ is None and synth.model_.config.profile
    assert synth.min_patients_per_value == MIN_PATIENTS
    assert len(synth.sample(3, random_state=0)) > 0
    resaved = tmp_path / "resaved.cdmt"
    synth.save(resaved)
    with zipfile.ZipFile(resaved) as archive:
        assert b"ProfileTrees" not in archive.read("manifest.json")


def test_version_5_files_count_times_from_the_origin(model_file, tmp_path):
    """Version 5 had no per-patient starts: its grids count every time from the origin."""
    def as_version_5(manifest):
        as_class_paths(manifest)
        manifest["format_version"] = 5
        for name, keys in [
            ("TimeGrid", ("starts_vary_", "start_unit_")),
            ("SequencePreprocessor", ("has_start_channel_",)),
        ]:
            for items in _legacy_states(manifest, name):
                items[:] = [i for i in items if i[0] not in keys]

    path = edited(model_file, tmp_path, edit_manifest=as_version_5)
    synth = CDMTSynthesizer.load(path)
    grid = synth.preprocessor_.time_grid_
    assert grid.starts_vary_ is False and grid.start_unit_ is None
    assert synth.preprocessor_.has_start_channel_ is False
    reference = CDMTSynthesizer.load(model_file).sample(3, random_state=0)
    assert synth.sample(3, random_state=0).equals(reference)


# -- format version 6 ----------------------------------------------------------------------------
def as_version_5(manifest):
    """What a version-5 file holds: every object under its class path, a QuantileTransformer
    with all the attributes scikit-learn set (the per-patient start attributes of version 6
    stay, as the migration keeps attributes a file has; the test of version 5's time axis
    drops them)."""
    as_version_6(manifest)  # the parameters of versions 1 to 6
    as_class_paths(manifest)
    manifest["format_version"] = 5


def test_version_5_files_name_classes_by_path_and_load_the_same(model_file, tmp_path):
    path = edited(model_file, tmp_path, edit_manifest=as_version_5)
    legacy = json.loads(read_parts(path)["manifest.json"])
    [quantiles] = _legacy_states(legacy, "QuantileTransformer")
    assert [key for key, _ in quantiles][4:8] == [
        "random_state", "copy", "n_features_in_", "n_quantiles_"
    ]
    document = migrate({"manifest": legacy, "arrays": b"", "weights": b""})
    assert document["manifest"] == json.loads(read_parts(model_file)["manifest.json"])
    synth = CDMTSynthesizer.load(path)
    reference = CDMTSynthesizer.load(model_file)
    assert synth.sample(3, random_state=0).equals(reference.sample(3, random_state=0))
    transformer = synth.preprocessor_.numeric_encoders_[0].quantile_transformer_
    expected = reference.preprocessor_.numeric_encoders_[0].quantile_transformer_
    np.testing.assert_array_equal(transformer.quantiles_, expected.quantiles_)
    assert transformer.n_quantiles_ == expected.n_quantiles_
    resaved = tmp_path / "resaved.cdmt"
    synth.save(resaved)
    assert json.loads(read_parts(resaved)["manifest.json"]) == document["manifest"]


@pytest.mark.parametrize(
    "path", ["os.system", "cdmtehr.__main__.X", "cdmtehr.preprocessing.schema.ColumnRoles"]
)
def test_a_version_5_file_naming_another_class_is_refused(model_file, tmp_path, path):
    def foreign(manifest):
        as_version_5(manifest)
        _edit_fitted(manifest, "preprocessor_", {"__object__": path, "state": {"__items__": []}})

    with pytest.raises(ModelFileError, match=f"names type '{path}', which cdmtehr never stores"):
        CDMTSynthesizer.load(edited(model_file, tmp_path, edit_manifest=foreign))


def test_a_current_file_naming_a_class_path_is_refused(model_file, tmp_path):
    def by_path(manifest):
        _edit_fitted(manifest, "preprocessor_", {
            "__type__": "cdmtehr.preprocessing.preprocessor.SequencePreprocessor",
            "state": {"__items__": []},
        })

    with pytest.raises(ModelFileError, match="never stores"):
        CDMTSynthesizer.load(edited(model_file, tmp_path, edit_manifest=by_path))


# -- atomic save ---------------------------------------------------------------------------------
def test_a_failed_save_leaves_the_previous_file_whole(model_file, tmp_path, monkeypatch):
    target = tmp_path / "model.cdmt"
    target.write_bytes(model_file.read_bytes())
    synth = CDMTSynthesizer.load(model_file)
    written = []

    def full_disk(self, name, data, *args, **kwargs):
        written.append(name)
        if name == "weights.pt":
            raise OSError(28, "No space left on device")
        return original(self, name, data, *args, **kwargs)

    original = zipfile.ZipFile.writestr
    monkeypatch.setattr(zipfile.ZipFile, "writestr", full_disk)
    with pytest.raises(OSError, match="No space left"):
        synth.save(target)
    monkeypatch.undo()
    assert written == ["manifest.json", "arrays.npz", "weights.pt"]
    assert target.read_bytes() == model_file.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.cdmt"]  # no temporary left
    CDMTSynthesizer.load(target)


def test_save_writes_through_a_synced_temporary_file(model_file, tmp_path, monkeypatch):
    synced, replaced = [], []
    monkeypatch.setattr(persistence.os, "fsync", lambda fd: synced.append(fd))
    real_replace = persistence.os.replace
    monkeypatch.setattr(
        persistence.os, "replace", lambda a, b: (replaced.append((a, b)), real_replace(a, b))
    )
    target = tmp_path / "out.cdmt"
    CDMTSynthesizer.load(model_file).save(target)
    assert synced and len(replaced) == 1
    source, destination = map(str, replaced[0])
    assert destination == str(target) and source != destination
    assert str(tmp_path) in source
    CDMTSynthesizer.load(target)


def test_a_doctored_privacy_record_fails_at_load(model_file, tmp_path):
    # A non-private model claiming an epsilon it never spent.
    path = edited(model_file, tmp_path,
                  edit_manifest=lambda manifest: _edit_fitted(manifest, "dp_epsilon_spent_", 1.0))
    with pytest.raises(ModelFileError, match="privacy record"):
        CDMTSynthesizer.load(path)


@pytest.mark.parametrize("maps", [
    {"__list__": [1.0]},  # not a map
    {"__items__": [["numeric", {"__list__": [{"__list__": [[0.0, 1.0], [1.0, 0.0]]}]}],
                   ["static_numeric", {"__list__": []}]]},  # a list, not an array
    {"__items__": [["numeric", {"__list__": []}]]},  # a part missing
])
def test_a_doctored_tail_calibration_fails_at_load(model_file, tmp_path, maps):
    path = edited(model_file, tmp_path,
                  edit_manifest=lambda manifest: _edit_fitted(manifest, "tail_calibration_", maps))
    with pytest.raises(ModelFileError, match="tail calibration"):
        CDMTSynthesizer.load(path)
