"""ProfileTrees: sequential regression trees that draw a table's rows column by column."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdmtehr.disclosure import MIN_PATIENTS
from cdmtehr.profiles import ProfileTrees
from cdmtehr.profiles import trees as trees_module
from cdmtehr.profiles.trees import FIRST_KNOTS, LEAF_KNOTS, MAX_LEAVES


def table(n=400, seed=0):
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 2, n).astype(float)
    # Few values per leaf: with one patient per knot every value keeps a knot of its own.
    second = np.where(first == 1, rng.choice([10, 13, 19], n), rng.choice([0, 2, 4], n))
    second = second.astype(float)
    third = second.copy()  # an exact copy: charted together, as a lab panel is
    return np.column_stack([first, second, third])


def test_with_one_patient_per_knot_draws_only_training_values():
    x = table()
    out = ProfileTrees(min_leaf=10, min_patients=1).fit(x).sample(300, np.random.default_rng(1))
    for j in range(x.shape[1]):
        assert set(out[:, j]) <= set(x[:, j])


def test_every_drawn_value_is_shared_by_a_group_or_is_a_group_mean():
    x = table()
    out = ProfileTrees(min_leaf=10).fit(x).sample(300, np.random.default_rng(1))
    values, counts = np.unique(x[:, 1], return_counts=True)
    for drawn in np.unique(out[:, 1]):
        if drawn in values:
            assert counts[values == drawn][0] >= MIN_PATIENTS
        # else a mean, rounded back to a count (the column is all integers)
    assert np.all(out[:, 1] == np.round(out[:, 1]))


def test_keeps_the_dependence_between_columns():
    x = table()
    out = ProfileTrees(min_leaf=10).fit(x).sample(500, np.random.default_rng(1))
    # The second column depends on the first, and the third copies the second.
    assert (out[out[:, 0] == 1, 1] >= 10).all() and (out[out[:, 0] == 0, 1] < 5).all()
    np.testing.assert_array_equal(out[:, 2], out[:, 1])


def test_a_given_first_column_is_kept_and_conditions_the_rest():
    x = table()
    first = np.ones(100)
    out = ProfileTrees(min_leaf=10).fit(x).sample(100, np.random.default_rng(1), given=first)
    np.testing.assert_array_equal(out[:, 0], first)
    assert (out[:, 1] >= 10).all()


def test_given_columns_are_kept_and_only_the_later_ones_are_drawn():
    x = table()
    model = ProfileTrees(min_leaf=10).fit(x)
    given = np.column_stack([np.zeros(100), np.full(100, 2.0)])
    out = model.sample(100, np.random.default_rng(1), given=given)
    np.testing.assert_array_equal(out[:, :2], given)
    # The third column copies the second in the training table: drawn given it, it follows.
    np.testing.assert_array_equal(out[:, 2], given[:, 1])


def test_same_generator_state_same_rows():
    model = ProfileTrees().fit(table())
    a = model.sample(50, np.random.default_rng(7))
    b = model.sample(50, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_gated_columns_exist_only_where_their_gate_holds():
    rng = np.random.default_rng(0)
    count = rng.integers(0, 4, 300).astype(float)
    level = np.where(count > 0, rng.normal(size=300), np.nan)
    model = ProfileTrees(min_leaf=5).fit(np.column_stack([count, level]), gates={1: (0, 0)})
    out = model.sample(400, np.random.default_rng(1))
    assert np.isnan(out[out[:, 0] == 0, 1]).all()
    assert not np.isnan(out[out[:, 0] > 0, 1]).any()


def test_a_column_no_training_row_has_is_never_drawn():
    count = np.array([0.0, 1.0, 1.0, 0.0] * 10)
    spread = np.full(40, np.nan)  # an sd needs two measurements: none here
    model = ProfileTrees().fit(np.column_stack([count, spread]), gates={1: (0, 1)})
    assert np.isnan(model.sample(20, np.random.default_rng(0))[:, 1]).all()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(5, 80), min_leaf=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_every_leaf_holds_at_least_min_leaf_and_min_patients_rows(n, min_leaf, seed):
    x = np.random.default_rng(seed).normal(size=(n, 3))
    model = ProfileTrees(min_leaf=min_leaf).fit(x)
    smallest = max(min_leaf, MIN_PATIENTS)
    for j, tree in enumerate(model.trees_, start=1):
        if n < smallest:  # one leaf of all rows
            assert len(tree.left) == 1
            continue
        sizes = np.bincount(tree.leaves(x[:, :j]))[tree.left < 0]
        assert sizes.min() >= smallest and sizes.sum() == n
        assert (tree.left < 0).sum() <= MAX_LEAVES
        leaf = tree.left < 0
        points_per_leaf = (tree.knot_stop - tree.knot_start)[leaf]
        # A quantile function through at most LEAF_KNOTS knots: two points for a shared value.
        assert points_per_leaf.min() >= 1 and points_per_leaf.max() <= 2 * LEAF_KNOTS
        for start, stop in zip(tree.knot_start[leaf], tree.knot_stop[leaf]):
            levels = tree.levels[start:stop]
            assert np.all(np.diff(levels) >= 0) and 0 <= levels[0] and levels[-1] <= 1
            assert np.all(np.diff(tree.knots[start:stop]) >= 0)


def test_a_table_of_fewer_rows_than_min_patients_is_refused():
    with pytest.raises(ValueError, match="fewer than 5"):
        ProfileTrees().fit(np.arange(8, dtype=float).reshape(4, 2))


@pytest.mark.parametrize("n", [1, 3])
def test_tiny_tables_fit_and_sample_with_one_patient_per_knot(n):
    x = np.arange(n * 2, dtype=float).reshape(n, 2)
    out = ProfileTrees(min_patients=1).fit(x).sample(5, np.random.default_rng(0))
    assert out.shape == (5, 2) and set(out[:, 1]) <= set(x[:, 1])


def test_a_column_too_few_rows_have_takes_the_fallback_tree():
    rng = np.random.default_rng(0)
    everyone = np.column_stack([rng.integers(0, 5, 500), rng.normal(size=500)])
    few = everyone[:40].copy()
    few[8:, 1] = np.nan  # 8 rows have column 1: under a leaf of 20
    fallback = ProfileTrees().fit(everyone)
    model = ProfileTrees().fit(few, fallback=fallback)
    assert model.trees_[1 - 1] is fallback.trees_[0]


def test_a_column_too_few_rows_have_and_no_fallback_is_one_pooled_leaf_or_never_drawn():
    x = np.column_stack([np.arange(40.0), np.full(40, np.nan), np.full(40, np.nan)])
    x[:8, 1] = np.arange(8.0)
    x[:3, 2] = [7.0, 8.0, 9.0]  # three rows: under min_patients
    model = ProfileTrees().fit(x)
    one_leaf = model.trees_[0]
    assert len(one_leaf.left) == 1 and len(one_leaf.knots) == 1  # 8 rows: one mean of them
    np.testing.assert_allclose(one_leaf.knots, [3.5])
    assert np.isnan(model.sample(50, np.random.default_rng(0))[:, 2]).all()


def stored_numbers(model):
    """Every number a fitted ProfileTrees keeps."""
    numbers = [model.first_knots_]
    for tree in model.trees_:
        numbers += [tree.threshold, tree.knots]
    numbers += [np.asarray(v[1:], dtype=float) for v in model.anchors_.values()]
    return np.concatenate([np.asarray(n, dtype=float).ravel() for n in numbers])


def test_a_canary_row_leaves_none_of_its_values_in_the_fitted_trees():
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.integers(24, 49, 600), rng.normal(size=600),
                         rng.gamma(2.0, size=600)]).astype(float)
    canary = np.array([47.0, 3.3137, 9.8765])  # no other row has any of these
    x = np.vstack([x, canary])
    model = ProfileTrees().fit(x)
    numbers = stored_numbers(model)
    for value in canary[1:]:
        assert not np.any(np.abs(numbers - value) <= 1e-6)
    # The first column's 47 is shared by many rows: a knot may be 47, but no row order is kept.
    replayed = model.sample(5000, np.random.default_rng(0))
    assert not np.any(np.all(np.abs(replayed[:, 1:] - canary[1:]) <= 1e-6, axis=1))


@pytest.mark.parametrize("n", [300, 3_000, 20_000])
def test_what_the_trees_keep_is_bounded_whatever_the_table(n):
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 49, n), rng.normal(size=(n, 3))])
    model = ProfileTrees().fit(x)
    # Leaf points: two per atom, one per pooled group, two continued ends.
    bound = 1 + FIRST_KNOTS * 3 + 2 + len(model.trees_) * (
        2 * MAX_LEAVES - 1 + MAX_LEAVES * (3 * LEAF_KNOTS + 2)) + 2 * len(model.anchors_)
    assert stored_numbers(model).size <= bound


def near_copies(n=600, seed=0):
    """A wide first column, a second one or two above it, and a third never above it."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 40, n).astype(float)
    second = first + rng.integers(0, 2, n)
    third = np.floor(first * rng.random(n))
    return np.column_stack([first, second, third])


def test_a_column_close_to_an_earlier_one_is_drawn_relative_to_it(monkeypatch):
    x = near_copies()
    trees = ProfileTrees(min_leaf=60).fit(x)
    assert trees.anchors_ == {1: (0, 0.0, 40.0)}
    out = trees.sample(1000, np.random.default_rng(1))
    # Leaves of 60 rows mix several values of the first column: leaf values alone would
    # break "one or two above" in many rows; drawn relative to the first column, none.
    assert set(out[:, 1] - out[:, 0]) <= {0.0, 1.0}
    monkeypatch.setattr(trees_module, "ANCHOR_SHARE", 0.0)
    loose = ProfileTrees(min_leaf=60).fit(x).sample(1000, np.random.default_rng(1))
    assert not set(loose[:, 1] - loose[:, 0]) <= {0.0, 1.0}


def test_a_column_never_above_an_earlier_one_is_clipped_to_it():
    x = near_copies()
    trees = ProfileTrees(min_leaf=60).fit(x)
    assert 0 in trees.orders_[2][0] and 2 not in trees.anchors_
    out = trees.sample(1000, np.random.default_rng(2))
    assert (out[:, 2] <= out[:, 0]).all() and (out[:, 2] <= out[:, 1]).all()


def test_columns_with_missing_values_are_neither_anchored_nor_ordered():
    x = near_copies()
    x[::3, 1] = np.nan
    trees = ProfileTrees(min_leaf=60).fit(x)
    assert 1 not in trees.anchors_ and 1 not in trees.orders_
    assert all(1 not in above + below for above, below in trees.orders_.values())
