"""nearest_distance and adversarial_accuracy on points whose answers are known by hand."""

import numpy as np
import pytest

from cdmtehr.evaluation.privacy import adversarial_accuracy, nearest_distance


def test_nearest_distance_is_euclidean_to_the_closest_reference_row():
    reference = np.array([[0.0, 0.0], [10.0, 0.0]])
    query = np.array([[3.0, 4.0], [10.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(nearest_distance(query, reference), [5.0, 1.0, 0.0])


def test_exclude_self_skips_only_each_rows_own_match():
    points = np.array([[0.0], [1.0], [3.0], [3.0]])
    np.testing.assert_allclose(nearest_distance(points, points), [0, 0, 0, 0])
    # the duplicate at 3 still counts, at distance 0
    np.testing.assert_allclose(nearest_distance(points, points, exclude_self=True), [1, 1, 0, 0])


def test_copies_score_zero_adversarial_accuracy():
    real = np.random.default_rng(0).normal(size=(30, 3))
    assert adversarial_accuracy(real, real.copy()) == 0.0


def test_far_away_synthetic_records_score_one():
    real = np.random.default_rng(0).normal(size=(30, 3))
    assert adversarial_accuracy(real, real + 100.0) == 1.0


def test_two_samples_of_one_distribution_score_near_a_half():
    rng = np.random.default_rng(0)
    real, synthetic = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    assert adversarial_accuracy(real, synthetic) == pytest.approx(0.5, abs=0.06)


def test_adversarial_accuracy_averages_both_directions():
    # Real 0 and 1 are each closer to the other (1) than to any synthetic record (5, 4): 1 from
    # the real side. Synthetic 5 is closer to real 1 (4) than to synthetic 100 (95), synthetic
    # 100 closer to synthetic 5 (95) than to real 1 (99): 1/2 from the synthetic side.
    real, synthetic = np.array([[0.0], [1.0]]), np.array([[5.0], [100.0]])
    assert adversarial_accuracy(real, synthetic) == pytest.approx(0.75)
    assert adversarial_accuracy(synthetic, real) == pytest.approx(0.75)  # symmetric
