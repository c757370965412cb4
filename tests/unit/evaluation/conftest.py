"""Evaluation fixtures: 900 real patients in three parts, and the scores of broken copies."""

import numpy as np
import pytest
from helpers.cohorts import PHYSIONET_ROLES, gaussian, medians, read_physionet, shuffled

from cdmtehr.evaluation import evaluate


@pytest.fixture(scope="session")
def three_parts():
    """900 random real patients in three disjoint parts of 300: train, other, holdout."""
    frame = read_physionet()
    ids = np.random.default_rng(0).permutation(frame["patient_id"].unique())[:900]
    return [frame[frame["patient_id"].isin(ids[k::3])].reset_index(drop=True) for k in range(3)]


@pytest.fixture(scope="session")
def scored(three_parts):
    """Full evaluations of the other real part and of three broken cohorts against train."""
    train, other, holdout = three_parts
    cohorts = {
        "real": other,
        "shuffled": shuffled(other),
        "gaussian": gaussian(other),
        "medians": medians(other),
    }
    return {
        name: evaluate(train, cohort, holdout, n_splits=3, return_result=True, **PHYSIONET_ROLES)
        for name, cohort in cohorts.items()
    }
