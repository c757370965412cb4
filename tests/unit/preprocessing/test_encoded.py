"""EncodedCohort: shapes checked on creation, subsets and concatenation along patients."""

from dataclasses import replace

import numpy as np
import pytest
from helpers.encoded import make_cohort

from cdmtehr.preprocessing import EncodedCohort

ARRAYS = EncodedCohort._ARRAY_FIELDS


def assert_same(a, b):
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.categorical_levels == b.categorical_levels
    assert a.static_categorical_levels == b.static_categorical_levels
    assert a.n_classes == b.n_classes


def test_sizes_and_length_mask():
    cohort = make_cohort(n=5, length=4, seed=3)
    assert cohort.n_patients == 5 and cohort.max_length == 4
    mask = cohort.length_mask()
    assert mask.shape == (5, 4) and mask.dtype == bool
    np.testing.assert_array_equal(mask.sum(axis=1), cohort.lengths)
    assert all(row[:n].all() and not row[n:].any() for row, n in zip(mask, cohort.lengths))


@pytest.mark.parametrize("name", [name for name in ARRAYS if name != "lengths"])
def test_an_array_with_another_number_of_patients_is_refused(name):
    cohort = make_cohort(n=4)
    with pytest.raises(ValueError, match=rf"EncodedCohort\.{name} has 3 patients, lengths has 4"):
        replace(cohort, **{name: getattr(cohort, name)[:3]})
    with pytest.raises(ValueError, match=r"has 4 patients, lengths has 3"):
        replace(cohort, lengths=cohort.lengths[:3])


def test_levels_must_match_the_categorical_columns():
    cohort = make_cohort(n=4)
    with pytest.raises(ValueError, match="categorical_levels must have one entry per column"):
        replace(cohort, categorical_levels=(3, 2))
    with pytest.raises(ValueError, match="static_categorical_levels"):
        replace(cohort, static_categorical_levels=(4,))


def test_subset_takes_the_same_patients_from_every_array():
    cohort = make_cohort(n=6, seed=1)
    picked = cohort.subset(np.array([4, 0, 4]))
    assert picked.n_patients == 3
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(picked, name), getattr(cohort, name)[[4, 0, 4]])
    mask = np.array([True, False, True, False, False, True])
    assert_same(cohort.subset(mask), cohort.subset(np.flatnonzero(mask)))
    assert picked.categorical_levels == cohort.categorical_levels
    assert cohort.n_patients == 6  # frozen: the original is untouched


def test_concat_undoes_a_split():
    cohort = make_cohort(n=7, seed=2)
    parts = [cohort.subset(slice(0, 3)), cohort.subset(slice(3, 4)), cohort.subset(slice(4, 7))]
    assert_same(EncodedCohort.concat(iter(parts)), cohort)
    assert_same(EncodedCohort.concat([cohort]), cohort)


def test_the_cohort_is_frozen():
    cohort = make_cohort(n=2)
    with pytest.raises(AttributeError):
        cohort.n_classes = 3


def test_concat_pads_cohorts_to_the_longest_padded_length():
    short, long = make_cohort(n=3, length=4), make_cohort(n=2, length=7, seed=1)
    joined = EncodedCohort.concat([short, long])
    assert joined.max_length == 7 and joined.n_patients == 5
    np.testing.assert_array_equal(joined.numeric[:3, :4], short.numeric)
    assert not joined.numeric[:3, 4:].any() and not joined.observed[:3, 4:].any()
    assert not joined.categorical[:3, 4:].any()
    np.testing.assert_array_equal(joined.lengths, np.r_[short.lengths, long.lengths])
