"""Test helpers for saved model files: edit the manifest of a file; write it in the forms that
files of earlier format versions had."""

import json
import zipfile

# How files of format versions 1 to 5 named the stored types: by class path.
CLASS_PATHS = {
    "CategoricalEncoder": "cdmtehr.preprocessing.encoders.CategoricalEncoder",
    "ClassProfiles": "cdmtehr.profiles.ClassProfiles",
    "ColumnRoles": "cdmtehr.roles.ColumnRoles",
    "LeafTree": "cdmtehr.profiles.trees.LeafTree",
    "NumericEncoder": "cdmtehr.preprocessing.encoders.NumericEncoder",
    "ProfileTrees": "cdmtehr.profiles.trees.ProfileTrees",
    "QuantileTransformer": "sklearn.preprocessing._data.QuantileTransformer",
    "SequencePreprocessor": "cdmtehr.preprocessing.preprocessor.SequencePreprocessor",
    "TimeGrid": "cdmtehr.preprocessing.sequences.TimeGrid",
}


def edit_manifest(path, edit):
    """Rewrite `path` with ``edit(manifest)`` applied to its manifest (other members kept)."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(parts["manifest.json"])
    edit(manifest)
    parts["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def _legacy_quantile_state(items):
    """The attributes that a version-5 file kept of a NumericEncoder's QuantileTransformer:
    all of them, in the order scikit-learn set them."""
    state = dict((key, value) for key, value in items)
    return [
        ["n_quantiles", state["n_quantiles"]],
        ["output_distribution", state["output_distribution"]],
        ["ignore_implicit_zeros", state["ignore_implicit_zeros"]],
        ["subsample", state["subsample"]],
        ["random_state", None],
        ["copy", state["copy"]],
        ["n_features_in_", 1],
        ["n_quantiles_", state["n_quantiles"]],  # the encoders fit as many as they keep
        ["references_", state["references_"]],
        ["quantiles_", state["quantiles_"]],
    ]


def as_class_paths(node):
    """Rewrite a manifest tree in place as files of format versions 1 to 5 held it: each
    object under ``"__object__"`` and its class path, a QuantileTransformer with every
    attribute that scikit-learn set. The caller sets the format version."""
    if isinstance(node, dict):
        if "__type__" in node:
            name = node.pop("__type__")
            node["__object__"] = CLASS_PATHS[name]
            if name == "QuantileTransformer":
                items = node["state"]["__items__"]
                items[:] = _legacy_quantile_state(items)
        for value in node.values():
            as_class_paths(value)
    elif isinstance(node, list):
        for value in node:
            as_class_paths(value)


def as_version_6(manifest, checkpoint_path=None, checkpoint_interval=300.0):
    """Rewrite a manifest's parameters in place as files of format versions 1 to 6 held them:
    the checkpoint file and interval among them, and one ``max_grad_norm`` that clipped each
    patient's gradient under differential privacy and the batch's otherwise. Sets the format
    version to 6 (a caller making an older file sets its own)."""
    params = manifest["params"]
    if params["dp_epsilon"] is not None:
        params["max_grad_norm"] = params["dp_max_grad_norm"]
    del params["dp_max_grad_norm"]
    params["checkpoint_path"] = checkpoint_path
    params["checkpoint_interval"] = checkpoint_interval
    manifest["format_version"] = 6


def object_states(manifest, name, key="__type__"):
    """The state item lists of every object of type `name` (under `key`: "__object__" and a
    class path in files of versions 1 to 5) stored in a manifest's fitted attributes."""
    found = []

    def visit(node):
        if isinstance(node, dict):
            if node.get(key) == name:
                found.append(node["state"]["__items__"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(manifest["fitted"])
    return found
