"""discriminative_scores: the sequence discriminators separate what differs and only that."""

import numpy as np
import pytest
from helpers.cohorts import PHYSIONET_ROLES as ROLES
from helpers.cohorts import gaussian, temporal_numeric

from cdmtehr.evaluation._frames import resolve_roles
from cdmtehr.evaluation.discriminative import discriminative_scores
from cdmtehr.evaluation.features import prepare_cohorts

SEQUENCES = ("sequence", "sequence_masks", "sequence_values")


def _scores(real, synthetic, classifiers=SEQUENCES):
    frames = {"real": real, "synthetic": synthetic}
    roles = resolve_roles(frames, **ROLES)
    cohorts, _ = prepare_cohorts(frames, roles, max_patients=None, random_state=0)
    return discriminative_scores(
        cohorts["real"], cohorts["synthetic"], classifiers=classifiers, random_state=0
    )[0]


def _later_measurements(frame, hours=6):
    """Every temporal numeric value moved `hours` later within its patient: masks shifted."""
    frame = frame.copy()
    for col in temporal_numeric(frame):
        frame[col] = frame.groupby("patient_id")[col].shift(hours)
    return frame


@pytest.fixture(scope="module")
def two_samples(three_parts):
    """Two disjoint samples of 120 real patients: one generator, sampled twice."""
    train, other, _ = three_parts
    return [f[f["patient_id"].isin(f["patient_id"].unique()[:120])] for f in (train, other)]


def test_sequence_discriminators_score_chance_on_two_samples_of_one_generator(two_samples):
    scores = _scores(*two_samples)
    for name in SEQUENCES:
        assert 0.35 < scores[f"disc_{name}_auroc"] < 0.65


@pytest.mark.slow
def test_sequence_discriminators_find_shifted_masks(two_samples):
    real, other = two_samples
    scores = _scores(real, _later_measurements(other))
    assert scores["disc_sequence_auroc"] > 0.9
    assert scores["disc_sequence_masks_auroc"] > 0.9


def test_masks_only_discriminator_ignores_the_values(two_samples):
    real, other = two_samples
    same = _scores(real, other, ("sequence_masks",))
    noise = _scores(real, gaussian(other), ("sequence_masks",))
    assert noise["disc_sequence_masks_auroc"] == same["disc_sequence_masks_auroc"]
    # The values-only discriminator is the one that sees the noise.
    assert _scores(real, gaussian(other), ("sequence_values",))["disc_sequence_values_auroc"] > 0.9


@pytest.mark.slow
def test_headline_is_the_strongest_discriminator(two_samples):
    real, other = two_samples
    names = ("summary", "sequence_values")
    scores = _scores(real, gaussian(other), names)
    strongest = max(scores[f"disc_{name}_auroc"] for name in names)
    assert scores["disc_auroc"] == strongest
    assert np.isfinite(scores["disc_accuracy_gap"])
