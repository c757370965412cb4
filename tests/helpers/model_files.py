"""Test helpers for saved model files: edit the manifest of a file; write it in the form that
files before format version 6 had."""

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
