"""Real PhysioNet patients and broken copies of them (structure, values or variance lost)."""

import pathlib

import numpy as np
import pandas as pd

import cdmtehr

PHYSIONET_ROLES = {"id_col": "patient_id", "time_col": "hour", "condition_col": "in_hospital_death"}
STATIC_NUMERIC = ("Age", "Height", "Weight_admit")


def read_physionet():
    """The bundled long frame as stored, without the loader's checks."""
    data = pathlib.Path(cdmtehr.__file__).parent / "datasets" / "data"
    return pd.read_parquet(data / "physionet2012_seta_long.parquet")


def temporal_numeric(frame):
    return [c for c in frame.columns if frame[c].dtype == "float64" and c not in STATIC_NUMERIC]


def shuffled(frame, seed=1):
    """Each temporal variable's values permuted across all rows: marginals kept, structure not."""
    frame = frame.copy()
    rng = np.random.default_rng(seed)
    for col in temporal_numeric(frame):
        frame[col] = rng.permutation(frame[col].to_numpy())
    return frame


def gaussian(frame, seed=2):
    """A poor model: Gaussian noise with the real mean and sd where a value was measured."""
    frame = frame.copy()
    rng = np.random.default_rng(seed)
    for col in temporal_numeric(frame):
        measured = frame[col].notna()
        frame.loc[measured, col] = rng.normal(frame[col].mean(), frame[col].std(), measured.sum())
    return frame


def medians(frame):
    """A poor model: every measured value replaced by the column median."""
    frame = frame.copy()
    for col in temporal_numeric(frame):
        frame[col] = frame[col].where(frame[col].isna(), frame[col].median())
    return frame
