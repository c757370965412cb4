"""Membership and attribute inference: a copy of the training patients is caught, an
independent real cohort is not; the attack's AUROC and TPR at a low FPR; the reading."""

import numpy as np
import pytest
from helpers.cohorts import PHYSIONET_ROLES

from cdmtehr.evaluation import membership_inference
from cdmtehr.evaluation.membership import attack_scores, density_ratio_score, reading
from cdmtehr.exceptions import InvalidParameterError


@pytest.fixture(scope="module")
def audits(three_parts):
    """The attacks on a copy of the training patients and on other real patients."""
    train, other, holdout = three_parts
    return {
        "copy": membership_inference(train, train, holdout, **PHYSIONET_ROLES),
        "independent": membership_inference(train, other, holdout, **PHYSIONET_ROLES),
    }


def test_a_copy_of_the_training_patients_is_caught(audits):
    scores = audits["copy"].scores
    assert scores["domias_auroc"] > 0.75
    assert scores["closeness_auroc"] > 0.95 and scores["closeness_tpr_at_1pct_fpr"] > 0.9
    assert scores["attribute_gap"] > 0.1
    assert "clearly beats guessing" in audits["copy"].reading


def test_an_independent_real_cohort_is_not(audits):
    scores = audits["independent"].scores
    for attack in ("domias", "closeness"):
        assert abs(scores[f"{attack}_auroc"] - 0.5) < 0.1
        assert scores[f"{attack}_tpr_at_1pct_fpr"] < 0.1
    assert abs(scores["attribute_gap"]) < 0.1
    # 150 non-members: half the holdout is the density attack's reference.
    assert scores["n_attacked"] == 300


def test_attack_scores_of_a_perfect_and_of_a_useless_attack():
    members = np.repeat([True, False], 100)
    assert attack_scores(members, members.astype(float)) == (1.0, 1.0)
    auroc, tpr = attack_scores(members, np.zeros(200))
    assert auroc == 0.5 and tpr == pytest.approx(0.01)


def test_the_density_ratio_is_high_where_synthetic_patients_crowd():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(400, 3))
    crowded = np.array([[2.0, 0.0, 0.0]])
    synthetic = np.vstack([rng.normal(size=(300, 3)), crowded + 0.05 * rng.normal(size=(100, 3))])
    score = density_ratio_score(np.vstack([crowded, [[0.0, 0.0, 0.0]]]), synthetic, reference)
    assert score[0] > score[1] + 1.0


def test_reading_without_attacks_and_bad_components(three_parts):
    assert "holdout" in reading({})
    train, other, holdout = three_parts
    with pytest.raises(InvalidParameterError, match="'n_components' parameter"):
        membership_inference(train, other, holdout, n_components=0, **PHYSIONET_ROLES)
