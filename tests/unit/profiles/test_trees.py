"""ProfileTrees: sequential regression trees that draw a table's rows column by column."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdmtehr.profiles import ProfileTrees
from cdmtehr.profiles import trees as trees_module


def table(n=400, seed=0):
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 2, n).astype(float)
    second = np.where(first == 1, rng.integers(10, 20, n), rng.integers(0, 5, n)).astype(float)
    third = second.copy()  # an exact copy: charted together, as a lab panel is
    return np.column_stack([first, second, third])


def test_draws_only_training_values_of_each_column():
    x = table()
    out = ProfileTrees(min_leaf=10).fit(x).sample(300, np.random.default_rng(1))
    for j in range(x.shape[1]):
        assert set(out[:, j]) <= set(x[:, j])


def test_keeps_the_dependence_between_columns():
    x = table()
    out = ProfileTrees(min_leaf=10).fit(x).sample(500, np.random.default_rng(1))
    # The second column depends on the first, and the third copies the second.
    assert (out[out[:, 0] == 1, 1] >= 10).all() and (out[out[:, 0] == 0, 1] < 5).all()
    np.testing.assert_array_equal(out[:, 2], out[:, 1])


def test_a_given_first_column_is_kept_and_conditions_the_rest():
    x = table()
    first = np.ones(100)
    out = ProfileTrees(min_leaf=10).fit(x).sample(100, np.random.default_rng(1), first=first)
    np.testing.assert_array_equal(out[:, 0], first)
    assert (out[:, 1] >= 10).all()


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
@given(n=st.integers(2, 60), min_leaf=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_every_leaf_holds_at_least_min_leaf_rows_or_half_the_table(n, min_leaf, seed):
    x = np.random.default_rng(seed).normal(size=(n, 3))
    model = ProfileTrees(min_leaf=min_leaf).fit(x)
    for tree in model.trees_:
        leaves = tree.left < 0
        sizes = (tree.pool_stop - tree.pool_start)[leaves]
        assert sizes.min() >= max(1, min(min_leaf, n // 2))
        assert sizes.sum() == n


@pytest.mark.parametrize("n", [1, 3])
def test_tiny_tables_fit_and_sample(n):
    x = np.arange(n * 2, dtype=float).reshape(n, 2)
    out = ProfileTrees().fit(x).sample(5, np.random.default_rng(0))
    assert out.shape == (5, 2) and set(out[:, 1]) <= set(x[:, 1])


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
