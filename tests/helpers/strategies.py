"""Hypothesis strategies: long frames of patients in many shapes, with their column roles."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st

TIME_KINDS = ("int16", "int64", "float", "datetime", "datetime_tz", "timedelta")
NUMERIC_KINDS = ("float64", "float32", "int64", "Int64", "constant")
CATEGORICAL_KINDS = ("category", "object", "str", "bool", "int")
STATIC_KINDS = ("float64", "int64", "category", "object")


def _numeric_values(draw, kind, n_rows):
    """One numeric column of `n_rows` values, with at least one observed value."""
    if kind == "int64":
        values = draw(st.lists(st.integers(-1000, 1000), min_size=n_rows, max_size=n_rows))
        return pd.Series(values, dtype="int64")
    if kind == "constant":
        value = draw(st.floats(-1e3, 1e3, allow_nan=False))
        return pd.Series(np.full(n_rows, value), dtype="float64")
    if kind == "Int64":
        values = st.one_of(st.none(), st.integers(0, 300))
    else:
        values = st.one_of(
            st.none(),
            st.floats(-1e6, 1e6, allow_nan=False, width=32 if kind == "float32" else 64),
            st.sampled_from([0.0, 1.5, 7.25, 80.0]),  # ties, as in charted vitals
        )
    data = draw(st.lists(values, min_size=n_rows, max_size=n_rows))
    if all(v is None for v in data):
        data[draw(st.integers(0, n_rows - 1))] = 1.0
    if kind == "Int64":
        return pd.Series(pd.array(data, dtype="Int64"))
    return pd.Series([np.nan if v is None else v for v in data], dtype=kind)


def _categorical_values(draw, kind, n_rows):
    levels = ["low", "mid", "high", "n/a"]
    if kind == "bool":
        data = draw(st.lists(st.booleans(), min_size=n_rows, max_size=n_rows))
        return pd.Series(data, dtype=bool)
    if kind == "int":
        data = draw(st.lists(st.integers(0, 4), min_size=n_rows, max_size=n_rows))
        return pd.Series(data, dtype="int64")
    data = draw(
        st.lists(st.one_of(st.none(), st.sampled_from(levels)), min_size=n_rows, max_size=n_rows)
    )
    if kind == "category":
        # Unused categories ("unused") must survive the round trip in the dtype.
        return pd.Series(pd.Categorical(data, categories=[*levels, "unused"]))
    if kind == "str":
        return pd.Series(data, dtype="str")
    return pd.Series(data, dtype=object)


def _static_values(draw, kind, n_patients):
    if kind == "float64":
        values = st.one_of(st.none(), st.floats(0, 200, allow_nan=False))
        data = draw(st.lists(values, min_size=n_patients, max_size=n_patients))
        if all(v is None for v in data):
            data[0] = 50.0
        return pd.Series([np.nan if v is None else v for v in data], dtype="float64")
    if kind == "int64":
        data = draw(st.lists(st.integers(18, 90), min_size=n_patients, max_size=n_patients))
        return pd.Series(data, dtype="int64")
    data = draw(
        st.lists(
            st.one_of(st.none(), st.sampled_from(["F", "M"])),
            min_size=n_patients,
            max_size=n_patients,
        )
    )
    if kind == "category":
        return pd.Series(pd.Categorical(data, categories=["F", "M", "X"]))
    return pd.Series(data, dtype=object)


def _times(draw, kind, lengths, regular):
    """Times of each row (patients concatenated), regular grid or random positive gaps.

    Stays start together, or (as in a hospital export) each at a time of its own: up to a
    year of minutes apart for datetimes, of units for numbers.
    """
    n_rows = int(sum(lengths))
    position = np.concatenate([np.arange(n) for n in lengths])
    if regular:
        origin = draw(st.integers(-5, 5))
        step = draw(st.sampled_from([1, 2, 5]))
        offsets = (origin + step * position).astype(float)
    else:
        gap_values = [1, 2, 3, 7] if kind != "float" else [0.25, 0.5, 1.1, 3.0]
        gaps = np.array(
            draw(st.lists(st.sampled_from(gap_values), min_size=n_rows, max_size=n_rows)),
            dtype=float,
        )
        firsts = np.array(
            draw(st.lists(st.integers(0, 4), min_size=len(lengths), max_size=len(lengths))),
            dtype=float,
        )
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        gaps[position == 0] = 0.0
        offsets = np.repeat(firsts, lengths) + np.cumsum(gaps) - np.cumsum(gaps)[starts]
    staggered = draw(st.booleans())
    high = 525_600 if kind.startswith("datetime") else 10_000
    stagger = np.repeat(
        draw(st.lists(st.integers(0, high), min_size=len(lengths), max_size=len(lengths)))
        if staggered else [0] * len(lengths),
        lengths,
    )
    if kind in ("int16", "int64"):
        return pd.Series((offsets + stagger).astype(kind))
    if kind == "float":
        return pd.Series(offsets + stagger / 4, dtype="float64")
    elapsed = pd.to_timedelta(stagger, unit="min") + pd.to_timedelta(offsets, unit="h")
    if kind == "timedelta":
        return pd.Series(elapsed)
    stamps = pd.Timestamp("2021-03-27 22:00") + elapsed
    series = pd.Series(stamps)
    if kind == "datetime_tz":
        series = series.dt.tz_localize("UTC").dt.tz_convert("Europe/Paris")
    return series


@st.composite
def long_frames(draw, *, max_patients=8, max_length=6, with_condition=None):
    """Draw ``(df, roles)``: a long frame of 1..`max_patients` patients and its roles.

    Covers int and str ids; int16, int64, float, datetime (naive and tz-aware) and timedelta
    times on a regular grid or with irregular gaps, stays starting together or apart; numeric columns (float64, float32, int64, nullable
    Int64, constant) with NaN patterns; categorical columns (category with unused categories,
    object and str strings with missing values, bool, ints); numeric and categorical static
    columns; an optional condition column. Rows and columns are shuffled.
    """
    n_patients = draw(st.integers(1, max_patients))
    lengths = draw(st.lists(st.integers(1, max_length), min_size=n_patients, max_size=n_patients))
    n_rows = int(sum(lengths))

    id_numbers = draw(
        st.lists(st.integers(0, 10**6), min_size=n_patients, max_size=n_patients, unique=True)
    )
    if draw(st.booleans()):
        ids = pd.Series(id_numbers, dtype="int64")
    else:
        ids = pd.Series([f"patient-{i}" for i in id_numbers], dtype=object)
    columns = {"pid": ids.repeat(lengths).reset_index(drop=True)}
    time_kind = draw(st.sampled_from(TIME_KINDS))
    columns["t"] = _times(draw, time_kind, lengths, regular=draw(st.booleans()))

    num_kinds = draw(st.lists(st.sampled_from(NUMERIC_KINDS), max_size=3))
    num_cols = [f"num_{i}_{k}" for i, k in enumerate(num_kinds)]
    for name, kind in zip(num_cols, num_kinds, strict=True):
        columns[name] = _numeric_values(draw, kind, n_rows)
    cat_kinds = draw(
        st.lists(st.sampled_from(CATEGORICAL_KINDS), max_size=2)
    )
    cat_cols = [f"cat_{i}_{k}" for i, k in enumerate(cat_kinds)]
    for name, kind in zip(cat_cols, cat_kinds, strict=True):
        columns[name] = _categorical_values(draw, kind, n_rows)
    static_kinds = draw(st.lists(st.sampled_from(STATIC_KINDS), max_size=2))
    static_cols = [f"static_{i}_{k}" for i, k in enumerate(static_kinds)]
    for name, kind in zip(static_cols, static_kinds, strict=True):
        per_patient = _static_values(draw, kind, n_patients)
        columns[name] = per_patient.repeat(lengths).reset_index(drop=True)
    if with_condition is None:
        with_condition = draw(st.booleans())
    condition_col = None
    if with_condition:
        condition_col = "outcome"
        classes = draw(st.sampled_from([("int8", [0, 1]), ("object", ["alive", "dead"])]))
        labels = draw(
            st.lists(st.sampled_from(classes[1]), min_size=n_patients, max_size=n_patients)
        )
        columns[condition_col] = pd.Series(labels, dtype=classes[0]).repeat(lengths)
        columns[condition_col] = columns[condition_col].reset_index(drop=True)

    df = pd.DataFrame(columns)
    column_order = draw(st.permutations(list(df.columns)))
    row_order = draw(st.permutations(range(n_rows)))
    df = df[column_order].iloc[list(row_order)]
    if draw(st.booleans()):
        df = df.reset_index(drop=True)
    roles = {
        "id_col": "pid",
        "time_col": "t",
        "num_cols": num_cols,
        "cat_cols": cat_cols,
        "static_cols": static_cols,
        "condition_col": condition_col,
    }
    return df, roles
