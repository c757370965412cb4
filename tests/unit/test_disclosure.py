"""pooled_knots and pooled_quantiles: distributions kept as values or means that groups of patients
share; shared_ceiling: a bound that is no single patient's value."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdmtehr.disclosure import (
    MIN_PATIENTS,
    bulk_bounds,
    pooled_knots,
    pooled_quantiles,
    rare_levels,
    shared_ceiling,
)


def _groups(values, patients, weights):
    """The sorted (values, patients) of each group, read back from the weights."""
    order = np.argsort(values, kind="stable")
    values, patients = values[order], patients[order]
    counts = np.rint(weights * values.size).astype(int)
    assert counts.sum() == values.size
    bounds = np.r_[0, np.cumsum(counts)]
    return [(values[a:b], patients[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _patient_balanced_mean(values, patients):
    return np.mean([values[patients == p].mean() for p in np.unique(patients)])


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(-20, 20), st.integers(0, 12)), min_size=1, max_size=80
    ),
    min_patients=st.integers(1, 6),
    max_knots=st.one_of(st.none(), st.integers(1, 30)),
)
def test_every_knot_is_shared_by_enough_patients(data, min_patients, max_knots):
    values = np.array([v / 4 for v, _ in data])  # ties are common
    patients = np.array([p for _, p in data])

    knots, weights = pooled_knots(values, patients, min_patients, max_knots)

    if np.unique(patients).size < min_patients:
        assert knots.size == 0 and weights.size == 0
        return
    assert np.all(np.diff(knots) > 0)
    assert np.isclose(weights.sum(), 1.0) and np.all(weights > 0)
    if max_knots is not None:  # at most max_knots atoms, and groups of n / max_knots values
        assert knots.size <= 2 * max_knots + 1
    groups = _groups(values, patients, weights)
    sorted_values = np.sort(values)
    ends = np.cumsum([len(g) for g, _ in groups])[:-1]
    assert np.all(sorted_values[ends - 1] < sorted_values[ends])  # no tie is split
    bounds = bulk_bounds(values) or (-np.inf, np.inf)
    for knot, (group, owners) in zip(knots, groups, strict=True):
        # far values too few patients have are counted with the outer bulk knot, not pooled
        side = np.sign((group > bounds[1]).astype(int) - (group < bounds[0]))
        knot_side = np.sign(int(knot > bounds[1]) - int(knot < bounds[0]))
        if (side != knot_side).any() and np.unique(owners[side == knot_side]).size >= min_patients:
            group, owners = group[side == knot_side], owners[side == knot_side]
        if np.unique(patients[values == knot]).size >= min_patients:
            # an atom: a value that many patients have, kept exactly (with the rare values
            # nearer to it than to any other atom)
            assert knot in group
        else:  # a pooled group: the mean of enough patients, never one of their values
            assert np.unique(owners).size >= min_patients
            mean = _patient_balanced_mean(group, owners)
            distinct = np.unique(group)
            if np.isclose(distinct, mean, rtol=0, atol=1e-6 * max(1, abs(mean))).any():
                assert not np.isin(knot, distinct)  # moved halfway to the next value
                assert abs(knot - mean) <= np.diff(distinct).max() / 2 + 1e-12
            else:
                assert knot == pytest.approx(mean, rel=1e-12)
            assert group[0] < knot < group[-1]


def test_with_one_patient_per_value_and_few_values_the_knots_are_the_values():
    values = np.array([3.0, 1.5, 3.0, 9.0, 1.5, 1.5])
    knots, weights = pooled_knots(values, min_patients=1)
    np.testing.assert_array_equal(knots, [1.5, 3.0, 9.0])
    np.testing.assert_allclose(weights, [0.5, 2 / 6, 1 / 6])


def test_a_rare_value_goes_with_the_nearest_shared_one_when_too_few_are_rare():
    values = np.r_[np.full(5, 10.0), np.full(5, 20.0), [37.25]]
    knots, weights = pooled_knots(values, np.arange(values.size), MIN_PATIENTS)
    np.testing.assert_array_equal(knots, [10.0, 20.0])
    np.testing.assert_allclose(weights, [5 / 11, 6 / 11])


def test_rare_values_that_enough_patients_have_are_pooled_between_shared_ones():
    rare = np.array([11.0, 12.5, 13.0, 14.0, 19.0])
    values = np.r_[np.full(5, 10.0), rare, np.full(5, 20.0)]
    knots, _ = pooled_knots(values, np.arange(values.size), MIN_PATIENTS)
    np.testing.assert_allclose(knots, [10.0, rare.mean(), 20.0])


def test_one_patients_many_values_count_once():
    # Patient 0 has 20 values of 99.0; four others have one value each.
    values = np.r_[np.full(20, 99.0), [1.0, 2.0, 3.0, 4.0]]
    patients = np.r_[np.zeros(20, int), [1, 2, 3, 4]]
    knots, _ = pooled_knots(values, patients, min_patients=5)
    assert knots.tolist() == [pytest.approx((1 + 2 + 3 + 4 + 99) / 5)]
    assert pooled_knots(values, patients, min_patients=6)[0].size == 0


def test_the_smoothed_quantile_function_keeps_shared_values_as_atoms():
    singles = np.arange(1.0, 11.0) ** 2
    values = np.r_[np.zeros(10), singles]  # 0 shared by 10 patients, the rest by one each
    points, levels = pooled_quantiles(values, min_patients=5)
    np.testing.assert_array_equal(points[:2], [0.0, 0.0])
    np.testing.assert_allclose(levels[:2], [0.0, 0.5])  # the atom keeps its half of the mass
    assert not np.isin(points[2:], singles).any()  # pooled means, no one's value
    draws = np.interp(np.random.default_rng(0).random(20_000), levels, points)
    assert abs(np.mean(draws == 0.0) - 0.5) < 0.02
    assert np.all(np.diff(points) >= 0) and np.all(np.diff(levels) >= 0)


def test_the_smoothed_quantile_function_of_too_few_patients_is_empty():
    points, levels = pooled_quantiles([1.0, 2.0, 3.0], min_patients=5)
    assert points.size == 0 and levels.size == 0


def test_a_pooled_mean_that_equals_a_patients_value_is_moved_off_it():
    values = np.array([101.0, 102.0, 103.0, 104.5, 106.0])  # the mean is 103.3: kept
    np.testing.assert_allclose(pooled_knots(values, min_patients=5)[0], [103.3])
    values = np.array([100.0, 101.0, 102.0, 103.0, 104.0])  # the mean is 102, one's value
    knots, _ = pooled_knots(values, min_patients=5)
    assert knots.tolist() == [102.5]


def test_rare_levels_count_patients_not_rows_and_skip_missing():
    values = ["icu"] * 5 + ["ecmo"] * 4 + [None] * 3 + ["burns"]
    patients = [0, 1, 2, 3, 4] + [9] * 4 + [5, 6, 7] + [8]

    assert rare_levels(values, patients, min_patients=5) == ["ecmo", "burns"]
    assert rare_levels(values, patients, min_patients=1) == []
    # One value per patient by default: "ecmo" then has four patients.
    assert rare_levels(values, min_patients=5) == ["ecmo", "burns"]
    assert rare_levels(values, min_patients=4) == ["burns"]


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(1, 10_000), min_size=1, max_size=60),
       min_patients=st.integers(1, 6))
def test_shared_ceiling_bounds_every_length_and_is_no_single_patients(lengths, min_patients):
    lengths = np.asarray(lengths)
    longest = lengths.max()

    bound = shared_ceiling(lengths, min_patients)

    assert bound >= longest and bound <= 1.25 * longest + 1
    if (lengths == longest).sum() >= min_patients:
        assert bound == longest
    else:
        assert bound > longest  # no one's length
        low_bits = max(int(bound).bit_length() - 3, 0)  # three significant binary digits
        assert bound >> low_bits << low_bits == bound


def test_shared_ceiling_on_typical_stays():
    assert shared_ceiling([48] * 5 + [20]) == 48
    assert shared_ceiling([48] * 4 + [20]) == 56
    assert shared_ceiling([24] * 50 + [6000]) == 6144


def test_one_patients_far_value_is_not_pooled_with_the_bulk():
    # one recorded pH of 1 among ordinary values: averaged with four of them it made a knot of
    # 5.9, which no patient has and which decoding then reached far too often
    rng = np.random.default_rng(0)
    values = np.r_[1.0, np.round(rng.normal(7.38, 0.08, 400), 2)]
    patients = np.arange(values.size)

    knots, weights = pooled_knots(values, patients)
    points, levels = pooled_quantiles(values, patients)

    assert knots[0] > 6.5 and points.min() > 6.5  # counted with the lowest bulk knot
    assert np.isclose(weights.sum(), 1.0)
    assert 1.0 not in knots


def test_far_values_of_enough_patients_are_pooled_among_themselves_with_no_mass_between():
    rng = np.random.default_rng(1)
    far = np.array([94.0, 95.0, 100.0, 187.0, 733.0, 735.0])  # 7.35 typed without its point
    values = np.r_[np.round(rng.normal(7.38, 0.08, 600), 2), far]
    patients = np.arange(values.size)

    knots, weights = pooled_knots(values, patients)
    points, levels = pooled_quantiles(values, patients)

    assert knots[-1] == pytest.approx(far.mean())  # the mean of the far values alone
    assert knots[-2] < 8 and weights[-1] == pytest.approx(far.size / values.size)
    # the quantile function jumps from the bulk to the far knot: a draw lands between them
    # with probability 0, and beyond 8 exactly as often as the far values occur
    u = np.linspace(0, 1, 200_001)[1:-1]
    drawn = np.interp(u, levels, points)
    assert np.mean(drawn > 8) == pytest.approx(far.size / values.size, abs=1e-4)
    assert not np.any((drawn > 8) & (drawn < far.mean() - 1e-9))
