"""Safe model files: a zip of a JSON manifest, numpy arrays and torch tensors; no pickle.

Loading never executes code from the file. The manifest is plain JSON; arrays are read with
``numpy.load(allow_pickle=False)``; weights with ``torch.load(weights_only=True)``. Fitted
Python objects (the preprocessor, its encoders, the profile trees) are written as their
attribute trees under a stable type name of `_TYPES` (``"NumericEncoder"``, not the module path
of the class), and rebuilt without calling any constructor. A file that names any other type is
refused; loading looks names up in that registry only and imports nothing, so no module
(``cdmtehr.__main__`` included) runs on a file's say-so, and a class may move between modules
without breaking the files that hold it. Scikit-learn's QuantileTransformer is stored as its
public fitted arrays (``quantiles_``, ``references_``) and parameters, and a fresh one is
given them on load, so that files do not depend on scikit-learn's private module layout or
attributes.

The manifest carries ``format_version``. A change of what a file holds bumps
`FORMAT_VERSION` and adds one step to `_MIGRATIONS`, so that `migrate` brings files of every
earlier version up to date when they are loaded.

Pickles (``pickle``, ``joblib``) of a fitted synthesizer are also supported, for trusted
files only: `pickled_state` and `restore_pickled_state` are the synthesizer's
``__getstate__`` and ``__setstate__``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import io
import json
import os
import uuid
import warnings
import zipfile
import zlib
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import QuantileTransformer

from ._atomic import write_atomically
from ._parameters import Device, check_parameters, resolve_device
from ._version import __version__
from .diffusion.build import build_denoiser
from .diffusion.denoiser import DenoiserConfig
from .diffusion.layout import StateLayout
from .diffusion.schedule import make_schedule
from .disclosure import MIN_PATIENTS
from .exceptions import CDMTWarning, InvalidDataTypeError, ModelFileError
from .preprocessing import SequencePreprocessor
from .preprocessing.encoders import CategoricalEncoder, NumericEncoder
from .preprocessing.sequences import TimeGrid
from .profiles import ChartingModel, ClassProfiles
from .profiles.charting import charted_features, context_width
from .profiles.trees import LeafTree, ProfileTrees
from .roles import ColumnRoles
from .sampling.tails import is_tail_calibration

FORMAT_NAME = "cdmtehr-model"
FORMAT_VERSION = 8
MEMBERS = ("manifest.json", "arrays.npz", "weights.pt")
# Every type a model file may hold, by the name the file stores it under. The names are part of
# the format: a class that moves to another module, or is renamed, keeps its name here. Loading
# looks a name up in this table and nowhere else (no import by path).
_TYPES = MappingProxyType(
    {
        "CategoricalEncoder": CategoricalEncoder,
        "ChartingModel": ChartingModel,
        "ClassProfiles": ClassProfiles,
        "ColumnRoles": ColumnRoles,
        "LeafTree": LeafTree,
        "NumericEncoder": NumericEncoder,
        "ProfileTrees": ProfileTrees,
        "QuantileTransformer": QuantileTransformer,
        "SequencePreprocessor": SequencePreprocessor,
        "TimeGrid": TimeGrid,
    }
)
_TYPE_NAMES = {cls: name for name, cls in _TYPES.items()}
# What a file keeps of a fitted QuantileTransformer: the parameters that transform and
# inverse_transform read, and the fitted arrays (random_state, read by fit alone, is not kept;
# n_quantiles_ and n_features_in_ follow from the shape of quantiles_).
_QUANTILE_PARAMETERS = ("n_quantiles", "output_distribution", "ignore_implicit_zeros",
                        "subsample", "copy")
_QUANTILE_ARRAYS = ("references_", "quantiles_")


def _attributes(value) -> dict:
    """What a file keeps of a package object: its fields, or all its attributes."""
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return dict(vars(value))


def _quantile_state(transformer) -> dict:
    """What a file keeps of a fitted QuantileTransformer (public parameters and arrays)."""
    if hasattr(transformer, "feature_names_in_"):
        raise TypeError("cannot store a QuantileTransformer fitted on named features")
    state = {name: getattr(transformer, name) for name in _QUANTILE_PARAMETERS}
    state.update({name: np.asarray(getattr(transformer, name)) for name in _QUANTILE_ARRAYS})
    return state


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _quantile_transformer(state: dict):
    """A fitted QuantileTransformer rebuilt from `_quantile_state` (None if the state is not
    one): a fresh instance given the stored parameters and arrays."""
    if set(state) != {*_QUANTILE_PARAMETERS, *_QUANTILE_ARRAYS}:
        return None
    quantiles, references = state["quantiles_"], state["references_"]
    n_quantiles, subsample = state["n_quantiles"], state["subsample"]
    distribution = state["output_distribution"]
    ok = (
        isinstance(quantiles, np.ndarray) and quantiles.dtype.kind == "f"
        and quantiles.ndim == 2 and quantiles.shape[0] >= 1 and quantiles.shape[1] >= 1
        and isinstance(references, np.ndarray) and references.dtype.kind == "f"
        and references.shape == quantiles.shape[:1]
        and isinstance(distribution, str) and distribution in ("normal", "uniform")
        and isinstance(state["ignore_implicit_zeros"], bool) and isinstance(state["copy"], bool)
        and _positive_int(n_quantiles) and (subsample is None or _positive_int(subsample))
    )
    if not ok:
        return None
    transformer = QuantileTransformer(**{name: state[name] for name in _QUANTILE_PARAMETERS})
    transformer.quantiles_ = quantiles
    transformer.references_ = references
    transformer.n_quantiles_ = quantiles.shape[0]
    transformer.n_features_in_ = quantiles.shape[1]
    return transformer


class _Encoder:
    """Turns an attribute tree into JSON, moving numeric arrays to a side table."""

    def __init__(self):
        self.arrays = {}

    def __call__(self, value):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, (np.generic,)):
            if isinstance(value, float) and not np.isfinite(value):
                return {"__float__": repr(value)}
            return value
        if isinstance(value, np.generic):
            return {"__npscalar__": value.dtype.str, "value": self(value.item())}
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "biufcmM":
                key = f"a{len(self.arrays)}"
                self.arrays[key] = value
                return {"__array__": key}
            return {"__objarray__": [self(v) for v in value.tolist()], "shape": list(value.shape)}
        if isinstance(value, (list, tuple)):
            tag = "__list__" if isinstance(value, list) else "__tuple__"
            return {tag: [self(v) for v in value]}
        if isinstance(value, dict):
            return {"__items__": [[self(k), self(v)] for k, v in value.items()]}
        if isinstance(value, pd.CategoricalDtype):
            categories = None if value.categories is None else self(value.categories)
            return {"__catdtype__": categories, "ordered": bool(value.ordered)}
        if isinstance(value, (np.dtype, pd.api.extensions.ExtensionDtype)):
            return {"__dtype__": str(value)}
        if isinstance(value, type) and issubclass(value, np.generic):
            return {"__dtype__": np.dtype(value).str}
        if isinstance(value, pd.Index):
            return {"__index__": self(np.asarray(value, dtype=object) if value.dtype == object
                                     else value.to_numpy()), "dtype": self(value.dtype)}
        if isinstance(value, pd.Timestamp):
            return {"__timestamp__": value.isoformat()}
        if isinstance(value, pd.Timedelta):
            return {"__timedelta__": value.value}
        if isinstance(value, datetime.datetime):
            return {"__timestamp__": pd.Timestamp(value).isoformat()}
        if isinstance(value, uuid.UUID):
            return {"__uuid__": str(value)}
        if value is pd.NA:
            return {"__pdna__": True}
        if value is pd.NaT:
            return {"__nat__": True}
        cls = type(value)
        name = _TYPE_NAMES.get(cls)  # the exact class: a subclass is not what the name means
        if name is None:
            raise TypeError(
                f"cannot store an object of type {cls.__module__}.{cls.__qualname__} in a "
                "model file"
            )
        state = _quantile_state(value) if cls is QuantileTransformer else _attributes(value)
        return {"__type__": name, "state": self(state)}


class _Decoder:
    """Inverse of `_Encoder`, refusing types outside `_TYPES`."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __call__(self, value):
        if not isinstance(value, dict):
            return value
        if "__array__" in value:
            return self.arrays[value["__array__"]]
        if "__objarray__" in value:
            items = [self(v) for v in value["__objarray__"]]
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape(value["shape"])
        if "__npscalar__" in value:
            return np.dtype(value["__npscalar__"]).type(self(value["value"]))
        if "__float__" in value:
            return float(value["__float__"])
        if "__list__" in value:
            return [self(v) for v in value["__list__"]]
        if "__tuple__" in value:
            return tuple(self(v) for v in value["__tuple__"])
        if "__items__" in value:
            return {_hashable(self(k)): self(v) for k, v in value["__items__"]}
        if "__catdtype__" in value:
            categories = value["__catdtype__"]
            return pd.CategoricalDtype(
                None if categories is None else self(categories), ordered=value["ordered"]
            )
        if "__dtype__" in value:
            return pd.api.types.pandas_dtype(value["__dtype__"])
        if "__index__" in value:
            return pd.Index(self(value["__index__"]), dtype=self(value["dtype"]))
        if "__timestamp__" in value:
            return pd.Timestamp(value["__timestamp__"])
        if "__timedelta__" in value:
            return pd.Timedelta(value["__timedelta__"])
        if "__uuid__" in value:
            return uuid.UUID(value["__uuid__"])
        if "__pdna__" in value:
            return pd.NA
        if "__nat__" in value:
            return pd.NaT
        if "__type__" in value:
            return self._object(value["__type__"], value.get("state"))
        raise ModelFileError(f"Unknown entry in model file: {sorted(value)[:3]}")

    def _object(self, name, state):
        cls = _TYPES.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ModelFileError(
                f"The model file names type {name!r}, which cdmtehr never stores."
            )
        attributes = self(state)
        if not isinstance(attributes, dict) or not all(
            isinstance(key, str) and not key.startswith("__") for key in attributes
        ):
            raise ModelFileError(f"The model file has a malformed state for type {name!r}.")
        if cls is QuantileTransformer:
            obj = _quantile_transformer(attributes)
            if obj is None:
                raise ModelFileError(f"The model file has a malformed state for type {name!r}.")
            return obj
        obj = cls.__new__(cls)  # no constructor runs
        for key, item in attributes.items():
            object.__setattr__(obj, key, item)
        return obj


def _check_weights(weights, path) -> None:
    """Refuse weights that are not two dicts of finite tensors (a damaged or doctored file)."""
    ok = isinstance(weights, dict) and set(weights) == {"model", "schedule"}
    ok = ok and all(
        isinstance(part, dict) and all(isinstance(t, torch.Tensor) for t in part.values())
        for part in weights.values()
    )
    if not ok:
        raise ModelFileError(f"{str(path)!r} has weights of an unexpected structure.")
    bad = [
        f"{part}.{name}"
        for part, tensors in weights.items()
        for name, tensor in tensors.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        raise ModelFileError(
            f"{str(path)!r} has NaN or infinite weights ({', '.join(bad[:3])}); the file is "
            "damaged, or the model diverged before it was saved."
        )


def _check_declared_sizes(layout: dict, config, model_weights: dict, path) -> None:
    """The stay length, width and classes of the manifest against the weights present."""
    position = model_weights.get("network.position_embedding")
    condition = model_weights.get("network.condition_embedding.weight")
    if position is None or condition is None or position.dim() != 2 or condition.dim() != 2:
        raise ModelFileError(f"{str(path)!r} is damaged: its weights lack the network.")
    declared = {
        "max_length": (layout.get("max_length"), position.shape[0]),
        "hidden_size": (config.hidden_size, position.shape[1]),
        "n_classes": (config.n_classes, condition.shape[0] - 1),
    }
    wrong = [f"{name}={claim!r} (the weights say {actual})"
             for name, (claim, actual) in declared.items() if claim != actual]
    if wrong:
        raise ModelFileError(
            f"{str(path)!r} is damaged or doctored: its manifest declares {', '.join(wrong)}."
        )


def _check_shapes(expected: dict, weights: dict, path) -> None:
    for part, tensors in expected.items():
        given = weights[part]
        if set(given) != set(tensors):
            raise ModelFileError(
                f"{str(path)!r} is damaged or doctored: its {part} weights do not match the "
                f"model its manifest describes ({sorted(set(given) ^ set(tensors))[:3]})."
            )
        wrong = [name for name, t in tensors.items() if tuple(given[name].shape) != tuple(t.shape)]
        if wrong:
            raise ModelFileError(
                f"{str(path)!r} is damaged or doctored: the shapes of its {part} weights "
                f"{wrong[:3]} do not match the model its manifest describes."
            )


def _check_fitted(fitted: dict, n_classes: int, path) -> None:
    """Values that `sample` relies on: a distribution over the classes, sane encoders."""
    prior = np.asarray(fitted["class_prior_"])
    classes = np.asarray(fitted["classes_"])
    ok = prior.ndim == 1 and prior.dtype.kind == "f" and len(prior) == n_classes == len(classes)
    ok = ok and bool(np.all(np.isfinite(prior)) and np.all(prior >= 0))
    ok = ok and (n_classes == 0 or abs(float(prior.sum()) - 1.0) < 1e-6)
    if not ok:
        raise ModelFileError(
            f"{str(path)!r} is damaged or doctored: its class_prior_ is not a distribution "
            f"over its {n_classes} classes."
        )
    pre = fitted["preprocessor_"]
    encoders = [*getattr(pre, "numeric_encoders_", []), *getattr(pre, "static_numeric_encoders_", [])]
    for encoder in encoders:
        if not isinstance(encoder, NumericEncoder) or not _sane_numeric_encoder(encoder):
            name = getattr(encoder, "name_", "?")
            raise ModelFileError(
                f"{str(path)!r} is damaged or doctored: the encoder of column {name!r} has an "
                "invalid range or quantiles."
            )


def _check_charting_model(fitted: dict, layout: StateLayout, path) -> None:
    """A charting model: finite weights of its declared sizes, charting the layout's masks and
    categories (a feature of another layout would be decoded out of bounds)."""
    profiles = fitted.get("profile_model_")
    model = getattr(profiles, "charting", None)
    if model is None:
        return
    ok = isinstance(model, ChartingModel) and isinstance(model.weights, dict)
    ok = ok and all(isinstance(array, np.ndarray) and array.dtype.kind == "f"
                    and bool(np.all(np.isfinite(array))) for array in model.weights.values())
    ok = ok and isinstance(model.config, dict)
    ok = ok and isinstance(model.n_classes, int) and isinstance(model.features, list)
    ok = ok and model.config.get("n_features") == len(model.features)
    if ok:
        levels = layout.to_dict()["temporal_categorical_levels"]
        n_masks = len(layout.masked_values)
        flags = [[n_masks + column, n - 1] in model.features for column, n in enumerate(levels)]
        ok = model.features == charted_features(layout, flags)
    ok = ok and model.config.get("context_size") == context_width(len(layout.masked_values),
                                                                  model.n_classes)
    if ok:
        try:
            model.network()
        except (TypeError, RuntimeError):
            ok = False
    if not ok:
        raise ModelFileError(f"{str(path)!r} is damaged or doctored: its charting model does "
                             "not fit its layout, or its weights are not finite or not of its "
                             "sizes.")


def _check_privacy(fitted: dict, path) -> None:
    """The optional privacy record: None, or a dict of numbers (and what they cover)."""
    privacy, spent = fitted.get("privacy_"), fitted.get("dp_epsilon_spent_")
    sane = (privacy is None and spent is None) or (
        isinstance(privacy, dict)
        and all(isinstance(v, (int, float, str)) for v in privacy.values())
        and isinstance(spent, (int, float)) and spent == privacy.get("epsilon")
    )
    if not sane:
        raise ModelFileError(
            f"{str(path)!r} is damaged or doctored: its privacy record (privacy_, "
            "dp_epsilon_spent_) is not what a private fit writes."
        )


def _sane_numeric_encoder(encoder) -> bool:
    try:
        low, high = float(encoder.min_), float(encoder.max_)
        if encoder.n_observed_ == 0:
            return np.isnan(low) and np.isnan(high) and encoder.quantile_transformer_ is None
        if not (np.isfinite(low) and np.isfinite(high) and low <= high):
            return False
        qt = encoder.quantile_transformer_
        if qt is None:
            return True
        quantiles = np.asarray(qt.quantiles_, dtype="float64")
        knots = np.asarray(encoder.knot_values_, dtype="float64")
        scores = np.asarray(encoder.knot_scores_, dtype="float64")
        return bool(
            quantiles.ndim == 2 and quantiles.shape[1] == 1 and len(quantiles) >= 2
            and len(quantiles) == len(qt.references_)
            and np.all(np.isfinite(quantiles)) and np.all(np.diff(quantiles[:, 0]) >= 0)
            and knots.shape == scores.shape and knots.ndim == 1 and len(knots) >= 1
            and np.all(np.isfinite(knots)) and np.all(np.diff(knots) > 0)
            and np.all(np.isfinite(scores)) and np.all(np.diff(scores) >= 0)
            and _at_most(low, knots[0]) and _at_most(knots[-1], high)
        )
    except (AttributeError, TypeError, ValueError):
        return False


def _at_most(a, b) -> bool:
    """a <= b, up to float rounding (a knot that is a mean may pass the range it lies in by an
    ulp or two)."""
    return bool(a <= b or np.isclose(a, b, rtol=1e-12, atol=0.0))


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


# Fitted attributes stored in the manifest (the modules and the layout travel separately).
_FITTED = (
    "preprocessor_",
    "classes_",
    "class_prior_",
    "history_",
    "n_patients_",
    "max_length_",
    "fit_seconds_",
)
# Fitted attributes stored when present, None when a file has none (written before they were).
_OPTIONAL_FITTED = ("privacy_", "dp_epsilon_spent_", "profile_model_", "tail_calibration_")


def _json_param(value):
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        return None  # a live RNG cannot be stored; the fitted weights carry its effect
    if type(value).__name__ == "device" or isinstance(value, os.PathLike):
        return str(value)
    return value


def save_synthesizer(synthesizer, path) -> None:
    """Write a fitted `CDMTSynthesizer` to `path` (see module docstring for the format)."""
    encoder = _Encoder()
    fitted = {name: getattr(synthesizer, name) for name in _FITTED}
    fitted.update({name: getattr(synthesizer, name, None) for name in _OPTIONAL_FITTED})
    model = synthesizer.model_
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "cdmtehr_version": __version__,
        "params": {k: _json_param(v) for k, v in synthesizer.get_params().items()},
        "layout": synthesizer.layout_.to_dict(),
        "denoiser": encoder(dataclasses.asdict(model.config)),
        "fitted": encoder(fitted),
    }
    arrays = io.BytesIO()
    np.savez(arrays, **encoder.arrays)
    weights = io.BytesIO()
    torch.save(
        {
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "schedule": {
                k: v.detach().cpu() for k, v in synthesizer.schedule_.state_dict().items()
            },
        },
        weights,
    )
    members = {
        "manifest.json": json.dumps(manifest).encode(),
        "arrays.npz": arrays.getvalue(),
        "weights.pt": weights.getvalue(),
    }
    if not isinstance(path, (str, os.PathLike)):  # an open file: the caller owns its fate
        _write_members(path, members)
        return
    write_atomically(path, lambda file: _write_members(file, members))


def _write_members(file, members: dict) -> None:
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


# What zipfile and json raise on damaged bytes (RuntimeError: an encrypted member;
# NotImplementedError: an unknown compression method).
_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    json.JSONDecodeError,
    UnicodeDecodeError,
    NotImplementedError,
    RuntimeError,
)


# A member may inflate to at most this many times its compressed size, plus a little. Honest
# files inflate 2x (weights), 4x (arrays) and 10x (the manifest); a crafted one of a few MB
# could otherwise inflate to gigabytes before anything is checked.
_MAX_INFLATION = 50
_INFLATION_SLACK = 1 << 20


def _check_member_sizes(archive, path) -> None:
    """Refuse members whose declared size is out of proportion to their compressed bytes.

    zipfile stops inflating a member at its declared size (and then fails its CRC), so the
    declared size bounds the memory that reading the member takes.
    """
    for info in archive.infolist():
        if info.file_size > _MAX_INFLATION * info.compress_size + _INFLATION_SLACK:
            raise ModelFileError(
                f"{str(path)!r} is not a file written by CDMTSynthesizer.save: its member "
                f"{info.filename!r} would inflate {info.compress_size} bytes to "
                f"{info.file_size}, which no model file does."
            )


def _check_npz(data: bytes, path) -> None:
    """The arrays' archive must store its members as numpy writes them: not compressed."""
    with zipfile.ZipFile(io.BytesIO(data)) as inner:
        if any(info.compress_type != zipfile.ZIP_STORED for info in inner.infolist()):
            raise ModelFileError(
                f"{str(path)!r} is not a file written by CDMTSynthesizer.save: its arrays "
                "are compressed twice."
            )


def _read_archive(path) -> tuple:
    # Read the bytes first: an error of the disk is an OSError of its own, while any error of
    # zipfile on bytes in memory (a seek before the start of a damaged central directory
    # raises ValueError or OSError) means a damaged file.
    data = Path(path).read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            missing = set(MEMBERS) - set(names)
            if missing:
                raise ModelFileError(
                    f"{str(path)!r} is not a cdmtehr model file: it lacks {sorted(missing)}."
                )
            # Exactly our three members, once each: a repeated name could be read differently
            # by another zip reader, and nothing else belongs in the file.
            if sorted(names) != sorted(MEMBERS):
                extra = sorted({n for n in names if n not in MEMBERS or names.count(n) > 1})
                raise ModelFileError(
                    f"{str(path)!r} is not a file written by CDMTSynthesizer.save: it has "
                    f"unexpected or repeated members {extra}; only {list(MEMBERS)} are allowed."
                )
            _check_member_sizes(archive, path)
            manifest = json.loads(archive.read("manifest.json"))
            arrays_bytes = archive.read("arrays.npz")
            weights_bytes = archive.read("weights.pt")
    except ModelFileError:
        raise
    except (*_DAMAGE, OSError, ValueError) as error:
        raise ModelFileError(
            f"{str(path)!r} is not a cdmtehr model file, or it is truncated or corrupt ({error}). "
            "CDMTSynthesizer.load reads files written by CDMTSynthesizer.save; a pickle or "
            "joblib file is read with pickle.load or joblib.load (only from a trusted source)."
        ) from error
    except zipfile.LargeZipFile as error:  # pragma: no cover - defensive
        raise ModelFileError(f"{str(path)!r} is not a readable model file ({error}).") from error
    return manifest, arrays_bytes, weights_bytes


def load_synthesizer(cls, path, device="cpu"):
    """Read a model file written by `save_synthesizer`; never executes code from the file."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidDataTypeError(
            f"The 'path' argument of CDMTSynthesizer.load must be a str or a path; got "
            f"{type(path).__name__}."
        )
    check_parameters({"device": device}, {"device": Device()}, "CDMTSynthesizer.load")
    device = resolve_device(device, "CDMTSynthesizer.load")
    if not Path(path).is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    manifest, arrays_bytes, weights_bytes = _read_archive(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{str(path)!r} is not a cdmtehr model file (wrong format tag).")
    document = migrate(
        {"manifest": manifest, "arrays": arrays_bytes, "weights": weights_bytes},
        source=repr(str(path)),
    )
    manifest = document["manifest"]
    try:
        _check_npz(document["arrays"], path)
        with np.load(io.BytesIO(document["arrays"]), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        weights = torch.load(
            io.BytesIO(document["weights"]), map_location="cpu", weights_only=True
        )
    except ModelFileError:
        raise
    except Exception as error:  # any failure here means a damaged or foreign file
        raise ModelFileError(
            f"{str(path)!r} has unreadable arrays or weights ({error})."
        ) from error
    _check_weights(weights, path)


    decoder = _Decoder(arrays)
    try:
        params = manifest["params"]
        synthesizer = cls(**params)
        config = DenoiserConfig(**decoder(manifest["denoiser"]))
        _check_declared_sizes(manifest["layout"], config, weights["model"], path)
        layout = StateLayout.from_dict(manifest["layout"])
        # Built without memory first: every size the manifest declares must match the weights
        # present before anything that large is allocated.
        with torch.device("meta"):
            shapes = {
                "model": build_denoiser(layout, config).state_dict(),
                "schedule": make_schedule(params["schedule"], layout).state_dict(),
            }
        _check_shapes(shapes, weights, path)
        model = build_denoiser(layout, config)
        model.load_state_dict(weights["model"])
        schedule = make_schedule(params["schedule"], layout)
        schedule.load_state_dict(weights["schedule"])
        fitted = decoder(manifest["fitted"])
        fitted = fitted if isinstance(fitted, dict) else {}
        missing = sorted(set(_FITTED) - set(fitted))
        if missing:
            raise ModelFileError(f"{str(path)!r} is damaged: it lacks the fitted {missing}.")
        if not isinstance(fitted["preprocessor_"], SequencePreprocessor):
            raise ModelFileError(f"{str(path)!r} is damaged: it holds no fitted preprocessor.")
        _check_fitted(fitted, config.n_classes, path)
        _check_privacy(fitted, path)
        _check_charting_model(fitted, layout, path)
        if not is_tail_calibration(fitted.get("tail_calibration_")):
            raise ModelFileError(f"{str(path)!r} is damaged or doctored: its tail calibration "
                                 "is not a set of increasing maps of finite scores.")
    except ModelFileError:
        raise
    except Exception as error:
        raise ModelFileError(
            f"{str(path)!r} is damaged: {type(error).__name__}: {error}"
        ) from error
    for name in _FITTED:
        setattr(synthesizer, name, fitted[name])
    for name in _OPTIONAL_FITTED:
        setattr(synthesizer, name, fitted.get(name))
    synthesizer.layout_ = layout
    synthesizer.model_ = model.eval().requires_grad_(False).to(device)
    synthesizer.schedule_ = schedule.eval().requires_grad_(False).to(device)
    synthesizer.device_ = device
    return synthesizer


# -- format versions -----------------------------------------------------------------------------
# _MIGRATIONS[v] turns the document of a version-v file into that of a version v + 1 file. A
# change of the format bumps FORMAT_VERSION and adds its step here.
def _object_states(node, name: str, key: str = "__object__"):
    """Every object stored under `name` in a manifest tree: its list of state items. Files
    older than version 6 name objects by class path under "__object__", later ones by type
    name under "__type__"."""
    if isinstance(node, dict):
        if node.get(key) == name and isinstance(node.get("state"), dict):
            items = node["state"].get("__items__")
            if isinstance(items, list):
                yield items
        for value in node.values():
            yield from _object_states(value, name, key)
    elif isinstance(node, list):
        for value in node:
            yield from _object_states(value, name, key)


def _add_missing_state(document: dict, name: str, defaults: dict) -> dict:
    """Give every stored `name` object the attributes of `defaults` it lacks."""
    for items in _object_states(document["manifest"].get("fitted"), name):
        present = {item[0] for item in items if isinstance(item, list) and item}
        items.extend([key, value] for key, value in defaults.items() if key not in present)
    return document


def _numeric_encoders_scale_robustly(document: dict) -> dict:
    """1 -> 2: numeric encoders gained robust_center_ and robust_scale_ (None: plain scaling)."""
    return _add_missing_state(document, "cdmtehr.preprocessing.encoders.NumericEncoder",
                              {"robust_center_": None, "robust_scale_": None})


def _profile_stage(document: dict) -> dict:
    """2 -> 3: a first stage that draws each patient's profile; older models have none."""
    manifest = document["manifest"]
    denoiser = manifest.get("denoiser")
    if isinstance(denoiser, dict) and isinstance(denoiser.get("__items__"), list):
        if not any(item[:1] == ["profile"] for item in denoiser["__items__"]):
            denoiser["__items__"].append(["profile", False])
    if isinstance(manifest.get("params"), dict):
        manifest["params"].setdefault("profile", False)
    return document


def _anchored_profiles(document: dict) -> dict:
    """3 -> 4: profile trees gained anchored and ordered columns; older trees have none."""
    return _add_missing_state(document, "cdmtehr.profiles.trees.ProfileTrees",
                              {"anchors_": {"__items__": []}, "orders_": {"__items__": []}})


def _pooled_disclosure(document: dict) -> dict:
    """4 -> 5: a model keeps no single patient's value. The profile trees of older files hold
    every training patient's profile, so they are dropped: such a model samples with its
    denoiser alone (trained to, for completion) until it is fitted again."""
    manifest = document["manifest"]
    fitted = manifest.get("fitted")
    items = fitted.get("__items__") if isinstance(fitted, dict) else None
    if isinstance(items, list):
        for item in items:
            if isinstance(item, list) and item[:1] == ["profile_model_"] and item[1] is not None:
                item[1] = None
                warnings.warn(
                    "This model file was written by an older "
                    "cdmtehr whose profile trees kept every training patient's profile; they "
                    "are not loaded, and the model samples with its denoiser alone (lower "
                    "fidelity). Fit it again, and share only files of this version.",
                    CDMTWarning,
                    stacklevel=4,
                )
    if isinstance(manifest.get("params"), dict):
        manifest["params"].setdefault("min_patients_per_value", MIN_PATIENTS)
    return document


def _per_patient_starts(document: dict) -> None:
    """Times may count from each patient's first row; older files count them from the origin
    (their first gap or grid position holds the start)."""
    _add_missing_state(document, "cdmtehr.preprocessing.sequences.TimeGrid",
                       {"starts_vary_": False, "start_unit_": None})
    _add_missing_state(document, "cdmtehr.preprocessing.preprocessor.SequencePreprocessor",
                       {"has_start_channel_": False})


# The module paths under which files of versions 1 to 5 name the types of `_TYPES`.
_CLASS_PATHS = MappingProxyType(
    {
        "cdmtehr.preprocessing.encoders.CategoricalEncoder": "CategoricalEncoder",
        "cdmtehr.preprocessing.encoders.NumericEncoder": "NumericEncoder",
        "cdmtehr.preprocessing.preprocessor.SequencePreprocessor": "SequencePreprocessor",
        "cdmtehr.preprocessing.sequences.TimeGrid": "TimeGrid",
        "cdmtehr.profiles.ClassProfiles": "ClassProfiles",
        "cdmtehr.profiles.trees.LeafTree": "LeafTree",
        "cdmtehr.profiles.trees.ProfileTrees": "ProfileTrees",
        "cdmtehr.roles.ColumnRoles": "ColumnRoles",
        "sklearn.preprocessing._data.QuantileTransformer": "QuantileTransformer",
    }
)


def _type_names(node) -> None:
    """Rename, in place, every object of a manifest tree stored under its class path."""
    if isinstance(node, dict):
        if "__object__" in node:
            path = node.pop("__object__")
            # A path outside the table stays as it is: loading refuses it as an unknown type.
            name = _CLASS_PATHS.get(path, path) if isinstance(path, str) else path
            node["__type__"] = name
            state = node.get("state")
            items = state.get("__items__") if isinstance(state, dict) else None
            if name == "QuantileTransformer" and isinstance(items, list):
                kept = {*_QUANTILE_PARAMETERS, *_QUANTILE_ARRAYS}
                items[:] = [item for item in items if isinstance(item, list) and item
                            and isinstance(item[0], str) and item[0] in kept]
        for value in node.values():
            _type_names(value)
    elif isinstance(node, list):
        for value in node:
            _type_names(value)


def _registry_names_and_starts(document: dict) -> dict:
    """5 -> 6: objects are stored under the names of `_TYPES` instead of their class paths,
    and a QuantileTransformer as its public parameters and fitted arrays (older files hold
    every attribute scikit-learn had set, of which the rest follow from these); and times may
    count from each patient's first row (`_per_patient_starts`)."""
    _per_patient_starts(document)  # finds the objects by their class paths: first
    manifest = document["manifest"]
    for part in ("denoiser", "fitted"):
        _type_names(manifest.get(part))
    return document


def _parameters_of_the_estimator(document: dict) -> dict:
    """6 -> 7: the checkpoint file and its interval are arguments of ``fit``, no parameters;
    the clipping norm has one meaning per option: ``dp_max_grad_norm`` clips each patient's
    gradient under differential privacy (what ``max_grad_norm`` did with ``dp_epsilon``),
    ``max_grad_norm`` the batch's gradient otherwise (which private training never did)."""
    params = document["manifest"].get("params")
    if isinstance(params, dict):
        params.pop("checkpoint_path", None)
        params.pop("checkpoint_interval", None)
        if params.get("dp_epsilon") is not None and "max_grad_norm" in params:
            params["dp_max_grad_norm"] = params.pop("max_grad_norm")
            params["max_grad_norm"] = 1.0
        params.setdefault("dp_max_grad_norm", 1.0)
    return document


def _drawn_charts(document: dict) -> dict:
    """7 -> 8: the first stage may draw the steps at which each value is measured (a charting
    model); the first stages of older files draw counts alone."""
    for items in _object_states(document["manifest"].get("fitted"), "ClassProfiles",
                                key="__type__"):
        if not any(isinstance(item, list) and item[:1] == ["charting"] for item in items):
            items.append(["charting", None])
    return document


_MIGRATIONS: dict = {
    1: _numeric_encoders_scale_robustly,
    2: _profile_stage,
    3: _anchored_profiles,
    4: _pooled_disclosure,
    5: _registry_names_and_starts,
    6: _parameters_of_the_estimator,
    7: _drawn_charts,
}


def migrate(document: dict, source: str = "The model file") -> dict:
    """Bring the document of a model file up to `FORMAT_VERSION`.

    Parameters
    ----------
    document : dict
        The file's members: "manifest" (its parsed JSON), "arrays" and "weights" (their bytes).
    source : str, default="The model file"
        What error messages call the file.

    Returns
    -------
    dict
        The document as a file of the current version would hold it (unchanged when the file
        is of the current version).

    Raises
    ------
    ModelFileError
        For a version that is not an integer from 1, or one newer than this cdmtehr reads.
    """
    version = document["manifest"].get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(
            f"{source} has an invalid model format version {version!r}; cdmtehr writes "
            f"integer versions from 1 to {FORMAT_VERSION}. The file is damaged or not ours."
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{source} has model format version {version}, newer than this cdmtehr "
            f"({__version__}) reads (version {FORMAT_VERSION}). Upgrade cdmtehr to load it."
        )
    while version < FORMAT_VERSION:
        document = _MIGRATIONS[version](document)
        version += 1
        document["manifest"]["format_version"] = version
    return document


# -- pickles -------------------------------------------------------------------------------------
def pickled_state(synthesizer) -> dict:
    """The state of a synthesizer for pickle: its attributes, the version, modules on the CPU."""
    state = synthesizer.__dict__.copy()
    state["_cdmtehr_version"] = __version__
    # Modules travel on the CPU so that a pickle made on a GPU loads anywhere.
    for name in ("model_", "schedule_"):
        if name in state:
            state[name] = copy.deepcopy(state[name]).cpu()
    if "device_" in state:
        state["device_"] = str(state["device_"])
    return state


def restore_pickled_state(synthesizer, state: dict) -> None:
    """Inverse of `pickled_state`; warns when another cdmtehr version pickled it."""
    version = state.pop("_cdmtehr_version", None)
    if version is not None and version != __version__:
        warnings.warn(
            f"This CDMTSynthesizer was pickled with cdmtehr {version} and is loaded with "
            f"{__version__}; results may differ.",
            CDMTWarning,
            stacklevel=3,
        )
    synthesizer.__dict__.update(state)
    if "device_" in state:
        synthesizer.device_ = torch.device("cpu")
