"""A model file, and a pickle, hold no training patient's data: attacks on what they keep."""

import io
import json
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
from helpers.frames import TINY

from cdmtehr import CDMTSynthesizer
from cdmtehr.disclosure import MIN_PATIENTS
from cdmtehr.profiles import ChartingModel, profile_table

# The defaults' disclosure control, on a tiny network and budget.
FIT = {**TINY, "min_patients_per_value": MIN_PATIENTS}
# The normal score of the quantile transform's bounds (scikit-learn clips at 1e-7).
BOUND = 5.19
# The canary's own values: no other patient of the bundled data has any of them.
# Inside the bulk of each column, and (Glucose) far beyond it; temporal ones drift by hour.
CANARY_TEMPORAL = {"HR": 87.37, "Glucose": 1013.57, "Temp": 36.8137}
CANARY_STATIC = {"Age": 67.137, "Height": 171.77}
DRIFT = 0.0131


def with_canary(df, roles):
    """`df` (minus columns too few patients measure) and a canary patient who has, at every
    hour, values no one else has."""
    patients = df[roles["id_col"]]
    measured = df[roles["num_cols"]].notna().groupby(patients).any().sum()
    thin = [c for c in roles["num_cols"] if measured[c] < MIN_PATIENTS + 1]
    roles = {**roles, "num_cols": [c for c in roles["num_cols"] if c not in thin]}
    df = df.drop(columns=thin)
    canary = df[patients == patients.iloc[0]].copy()
    canary[roles["id_col"]] = patients.max() + 1
    for column, value in CANARY_STATIC.items():
        canary[column] = value
    for column, value in CANARY_TEMPORAL.items():
        canary[column] = value + DRIFT * np.arange(len(canary))
    for column in [*CANARY_STATIC, *CANARY_TEMPORAL]:
        assert not np.isin(np.round(canary[column], 6), np.round(df[column], 6)).any()
    return pd.concat([df, canary], ignore_index=True), roles


@pytest.fixture(scope="module")
def canary_model(physionet_small, tmp_path_factory):
    df, roles = with_canary(*physionet_small)
    synth = CDMTSynthesizer(**FIT).fit(df, **roles)
    path = tmp_path_factory.mktemp("canary") / "model.cdmt"
    synth.save(path)
    return df, roles, synth, path


def network_arrays(manifest):
    """Keys of the arrays that hold the charting network's weights (network weights are the
    membership audit's to attack, not this test's)."""
    keys = set()

    def walk(node, inside=False):
        if isinstance(node, dict):
            if inside and "__array__" in node:
                keys.add(node["__array__"])
            inside = inside or node.get("__type__") == "ChartingModel"
            for value in node.values():
                walk(value, inside)
        elif isinstance(node, list):
            for value in node:
                walk(value, inside)

    walk(manifest)
    return keys


def stored_numbers(path):
    """Every number in a model file's manifest and arrays, read straight from the zip, the
    weights of networks aside."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        arrays = np.load(io.BytesIO(archive.read("arrays.npz")), allow_pickle=False)
        weights = network_arrays(manifest)
        found = [arrays[key].astype(np.float64).ravel() for key in arrays.files
                 if arrays[key].dtype.kind in "iuf" and key not in weights]

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            yield float(node)

    return np.concatenate([*found, np.fromiter(walk(manifest), dtype=np.float64)])


def pickled_numbers(synth):
    """Every number in the arrays and scalars that a pickle of `synth` carries, the network's
    weights aside (the membership audit is their attack)."""
    clone = pickle.loads(pickle.dumps(synth))
    seen, found = set(), []

    def walk(node):
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, np.ndarray) and node.dtype.kind in "iuf":
            found.append(node.astype(np.float64).ravel())
        elif isinstance(node, (float, int, np.floating, np.integer)) and not isinstance(node, bool):
            found.append(np.array([float(node)]))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)
        elif isinstance(node, ChartingModel):  # network weights: the membership audit's
            walk({k: v for k, v in vars(node).items() if k != "weights"})
        elif hasattr(node, "__dict__") and type(node).__module__.startswith(("cdmtehr", "sklearn")):
            walk(vars(node))

    walk({k: v for k, v in vars(clone).items() if k not in ("model_", "schedule_")})
    return np.concatenate(found)


def canary_values(synth):
    """The canary's raw values and their encodings: normal scores and the encoders' spans."""
    pre = synth.preprocessor_
    values = []
    canary = {**{c: [v] for c, v in CANARY_STATIC.items()},
              **{c: v + DRIFT * np.arange(48) for c, v in CANARY_TEMPORAL.items()}}
    for names, encoders in ((pre.numeric_names_, pre.numeric_encoders_),
                            (pre.static_numeric_names_, pre.static_numeric_encoders_)):
        for name, encoder in zip(names, encoders):
            if name not in canary:
                continue
            raw = np.asarray(canary[name], dtype=np.float64)
            scores = encoder.transform(raw)
            # A value beyond the outer knots scores the transform's bound, whoever has it.
            values += [raw, scores[np.abs(scores) < BOUND]]
            if encoder.quantile_transformer_ is not None:
                values.append(encoder._to_span(raw))
    return np.concatenate(values)


def close_to_any(numbers, values):
    numbers = np.sort(numbers[np.isfinite(numbers)])
    right = np.clip(np.searchsorted(numbers, values), 1, len(numbers) - 1)
    nearest = np.minimum(np.abs(numbers[right] - values), np.abs(numbers[right - 1] - values))
    return nearest <= 1e-6 * np.maximum(1.0, np.abs(values))


def test_a_canary_patient_leaves_none_of_its_values_in_the_model_file(canary_model):
    _, _, synth, path = canary_model
    values = canary_values(synth)
    assert len(values) >= 200
    assert not close_to_any(stored_numbers(path), values).any()


def test_nor_in_a_pickle(canary_model):
    _, _, synth, _ = canary_model
    assert not close_to_any(pickled_numbers(synth), canary_values(synth)).any()


def own_levels(synth, df):
    """Per training patient, the means and sds (normal scores) of its profile that no other
    training patient has: (patients, values) with NaN where a level is shared or absent. A
    level of 0 (no spread) or at the transform's bound (a constant beyond the outer knots)
    is not counted: it says nothing of whoever has it."""
    cohort = synth.preprocessor_.transform(df)
    table, _ = profile_table(cohort, synth.layout_)
    levels = table[:, 1 + len(synth.layout_.masked_values):]
    own = np.full_like(levels, np.nan)
    for j in range(levels.shape[1]):
        column = np.round(levels[:, j], 6)
        values, counts = np.unique(column[np.isfinite(column)], return_counts=True)
        single = np.isin(column, values[counts == 1]) & (column != 0) & (np.abs(column) < BOUND)
        own[single, j] = levels[single, j]
    return own


def test_nor_its_profile_in_the_first_stage(canary_model):
    df, _, synth, path = canary_model
    canary = own_levels(synth, df)[-1]
    canary = canary[np.isfinite(canary)]
    assert len(canary) >= 3
    assert not close_to_any(stored_numbers(path), canary).any()


def test_replaying_the_first_stage_rebuilds_no_training_profile(canary_model):
    import torch

    from cdmtehr.profiles import draw_profiles

    df, _, synth, _ = canary_model
    own = own_levels(synth, df)
    classes = np.repeat(synth.profile_model_.classes, 5000)
    drawn = draw_profiles(synth.profile_model_, classes, synth.layout_,
                          torch.Generator().manual_seed(0))
    levels = np.hstack([drawn.means.numpy(), drawn.sds.numpy()]).astype(np.float64)
    # Draws are continuous, so one level may land within 1e-6 of someone's by chance; a
    # rebuilt profile would match a patient on several of its own levels at once.
    shared = np.zeros((len(levels), len(own)), dtype=np.int64)
    for j in range(own.shape[1]):
        close = np.abs(levels[:, j, None] - own[None, :, j]) <= 1e-6  # NaN: never close
        shared += close
    assert shared.max() <= 1


@pytest.mark.slow
def test_a_model_file_and_a_pickle_do_not_grow_with_the_cohort(physionet):
    df, roles = physionet
    ids = df[roles["id_col"]].unique()
    sizes = {}
    for n in (300, 3000):
        part = df[df[roles["id_col"]].isin(ids[:n])]
        synth = CDMTSynthesizer(epochs=1, max_time=None, random_state=0).fit(part, **roles)
        buffer = io.BytesIO()
        synth.save(buffer)
        sizes[n] = (len(buffer.getvalue()), len(pickle.dumps(synth)))
    assert sizes[3000][0] <= 1.25 * sizes[300][0], sizes
    assert sizes[3000][1] <= 1.25 * sizes[300][1], sizes
