"""Safe model files: a zip of a JSON manifest, numpy arrays and torch tensors; no pickle.

Loading never executes code from the file. The manifest is plain JSON; arrays are read with
``numpy.load(allow_pickle=False)``; weights with ``torch.load(weights_only=True)``. Fitted
Python objects (the preprocessor and its encoders) are written as their attribute trees and
rebuilt without calling any constructor, and only for an allow-list of classes: cdmtehr's own
and scikit-learn's QuantileTransformer. A file that names any other class is refused.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import io
import json
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import __version__
from .exceptions import ModelFileError

FORMAT_NAME = "cdmtehr-model"
FORMAT_VERSION = 1
_ALLOWED_FOREIGN_CLASSES = {"sklearn.preprocessing._data.QuantileTransformer"}


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
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name.startswith("cdmtehr.") or name in _ALLOWED_FOREIGN_CLASSES:
            if dataclasses.is_dataclass(value):
                state = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            else:
                state = dict(vars(value))
            return {"__object__": name, "state": self(state)}
        raise TypeError(f"cannot store an object of type {name} in a model file")


class _Decoder:
    """Inverse of `_Encoder`, refusing classes outside the allow-list."""

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
        if "__object__" in value:
            return self._object(value["__object__"], value["state"])
        raise ModelFileError(f"Unknown entry in model file: {sorted(value)[:3]}")

    def _object(self, name, state):
        if not (name.startswith("cdmtehr.") or name in _ALLOWED_FOREIGN_CLASSES):
            raise ModelFileError(f"The model file names class {name!r}, which cdmtehr never stores.")
        module_name, _, qualname = name.rpartition(".")
        cls = getattr(importlib.import_module(module_name), qualname, None)
        # The class must be defined where the file says (not merely imported there).
        if not isinstance(cls, type) or f"{cls.__module__}.{cls.__qualname__}" != name:
            raise ModelFileError(f"The model file names class {name!r}, which cdmtehr never stores.")
        obj = cls.__new__(cls)  # no constructor runs
        for key, item in self(state).items():
            object.__setattr__(obj, key, item)
        return obj


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def _json_param(value):
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        return None  # a live RNG cannot be stored; the fitted weights carry its effect
    if type(value).__name__ == "device":
        return str(value)
    return value


def save_synthesizer(synthesizer, path) -> None:
    """Write a fitted `CDMTSynthesizer` to `path` (see module docstring for the format)."""
    encoder = _Encoder()
    fitted = {
        "preprocessor_": synthesizer.preprocessor_,
        "classes_": synthesizer.classes_,
        "class_prior_": synthesizer.class_prior_,
        "history_": synthesizer.history_,
        "n_patients_": synthesizer.n_patients_,
        "max_length_": synthesizer.max_length_,
        "fit_seconds_": synthesizer.fit_seconds_,
    }
    model = synthesizer.model_
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "cdmtehr_version": __version__,
        "params": {k: _json_param(v) for k, v in synthesizer.get_params().items()},
        "layout": synthesizer.layout_.to_dict(),
        "n_classes": model.n_classes,
        "network_size": model.network_size,
        "frequencies": encoder(
            {"temporal": model.temporal_frequencies, "static": model.static_frequencies}
        ),
        "fitted": encoder(fitted),
    }
    arrays = io.BytesIO()
    np.savez(arrays, **encoder.arrays)
    weights = io.BytesIO()
    torch.save(
        {
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "schedule": {k: v.detach().cpu() for k, v in synthesizer.schedule_.state_dict().items()},
        },
        weights,
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr("arrays.npz", arrays.getvalue())
        archive.writestr("weights.pt", weights.getvalue())


def _read_archive(path) -> tuple:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = {"manifest.json", "arrays.npz", "weights.pt"} - names
            if missing:
                raise ModelFileError(
                    f"{str(path)!r} is not a cdmtehr model file: it lacks {sorted(missing)}."
                )
            manifest = json.loads(archive.read("manifest.json"))
            arrays_bytes = archive.read("arrays.npz")
            weights_bytes = archive.read("weights.pt")
    except (zipfile.BadZipFile, EOFError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(
            f"{str(path)!r} is not a cdmtehr model file, or it is truncated or corrupt ({error})."
        ) from error
    except zipfile.LargeZipFile as error:  # pragma: no cover - defensive
        raise ModelFileError(f"{str(path)!r} is not a readable model file ({error}).") from error
    return manifest, arrays_bytes, weights_bytes


def load_synthesizer(cls, path, device="cpu"):
    """Read a model file written by `save_synthesizer`; never executes code from the file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    manifest, arrays_bytes, weights_bytes = _read_archive(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{str(path)!r} is not a cdmtehr model file (wrong format tag).")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} has model format version {version!r}, newer than this cdmtehr "
            f"({__version__}) reads (version {FORMAT_VERSION}). Upgrade cdmtehr to load it."
        )
    try:
        with np.load(io.BytesIO(arrays_bytes), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        weights = torch.load(io.BytesIO(weights_bytes), map_location="cpu", weights_only=True)
    except Exception as error:  # any failure here means a damaged or foreign file
        raise ModelFileError(f"{str(path)!r} has unreadable arrays or weights ({error}).") from error

    from .diffusion.denoiser import Denoiser
    from .diffusion.layout import StateLayout
    from .diffusion.schedule import make_schedule

    decoder = _Decoder(arrays)
    try:
        params = manifest["params"]
        synthesizer = cls(**params)
        layout = StateLayout.from_dict(manifest["layout"])
        frequencies = decoder(manifest["frequencies"])
        model = Denoiser(
            layout,
            n_classes=manifest["n_classes"],
            temporal_frequencies=frequencies["temporal"],
            static_frequencies=frequencies["static"],
            **manifest["network_size"],
        )
        model.load_state_dict(weights["model"])
        schedule = make_schedule(params["schedule"], layout)
        schedule.load_state_dict(weights["schedule"])
        fitted = decoder(manifest["fitted"])
    except ModelFileError:
        raise
    except Exception as error:
        raise ModelFileError(f"{str(path)!r} is damaged: {type(error).__name__}: {error}") from error
    device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                          ("cpu" if device == "auto" else device))
    for name, value in fitted.items():
        setattr(synthesizer, name, value)
    synthesizer.layout_ = layout
    synthesizer.model_ = model.eval().requires_grad_(False).to(device)
    synthesizer.schedule_ = schedule.eval().requires_grad_(False).to(device)
    synthesizer.device_ = device
    return synthesizer
