"""ProfileTrees: rows of a numeric table drawn one column at a time by regression trees.

Column j is drawn given the columns before it: a regression tree fitted on those columns
routes the row to a leaf, and the value is one of the training values of column j in that leaf
(the CART method of synthpop: Reiter 2005, *Using CART to generate partially synthetic public
use files*, J. Official Statistics 21(3); Nowok, Raab & Dibben 2016). Every leaf holds at least
`min_leaf` training rows. The fitted trees are plain arrays, so a model file stores them
without pickle.

A column that, in every training row, lies close to an earlier column (a blood gas's pH counted
about as often as its PaO2, systolic and diastolic pressures charted together) is drawn
*anchored*: as the row's value of that earlier column plus a leaf's training difference. Leaf
values alone break such relations whenever a leaf mixes rows of different anchor values, and a
stay generated with "systolic without diastolic" gives itself away. Likewise a column that never exceeds (or never
falls below) an earlier one in the training rows (a weight charted at most as often as the
heart rate) is clipped to it when drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Stands for "no such value" among the predictors (the level of a value never measured).
_ABSENT = -1e6
# A column is anchored to the earlier column whose difference from it has the smallest
# variance, when that variance is under this share of the column's own.
ANCHOR_SHARE = 0.5
# An order between two columns holds in all but this share of the training rows to be kept.
ORDER_SLACK = 0.002


@dataclass
class LeafTree:
    """A fitted regression tree and the training values of every leaf.

    Attributes
    ----------
    left, right : ndarray of int64
        Children of each node; -1 at a leaf.
    feature : ndarray of int64
        Predictor column tested at each node.
    threshold : ndarray of float64
        A row goes left when its predictor is <= the threshold.
    pool_start, pool_stop : ndarray of int64
        The training values of leaf node i are ``pool[pool_start[i]:pool_stop[i]]``.
    pool : ndarray of float64
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    pool_start: np.ndarray
    pool_stop: np.ndarray
    pool: np.ndarray

    @classmethod
    def constant(cls, value: float) -> LeafTree:
        """A single leaf holding `value`."""
        one = np.zeros(1, dtype=np.int64)
        return cls(one - 1, one - 1, one, np.zeros(1), one, one + 1, np.array([float(value)]))

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """Leaf node of each row of `x` (rows, predictors)."""
        node = np.zeros(len(x), dtype=np.int64)
        inner = np.flatnonzero(self.left[node] >= 0)
        while len(inner):
            at = node[inner]
            go_left = x[inner, self.feature[at]] <= self.threshold[at]
            node[inner] = np.where(go_left, self.left[at], self.right[at])
            inner = inner[self.left[node[inner]] >= 0]
        return node

    def draw(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One training value of each row's leaf, uniformly."""
        node = self.leaves(x)
        start, stop = self.pool_start[node], self.pool_stop[node]
        return self.pool[start + np.floor(rng.random(len(x)) * (stop - start)).astype(np.int64)]


class ProfileTrees:
    """Sequential regression trees over the columns of a table (synthpop's CART method).

    Parameters
    ----------
    min_leaf : int, default=20
        Fewest training rows in a leaf (fewer only for tables under 2 * min_leaf rows).

    Attributes
    ----------
    first_ : ndarray
        Training values of the first column (drawn from, unless given).
    trees_ : list of LeafTree
        The tree of every later column.
    gates_ : dict
        ``{j: (g, k)}``: column j exists only where column g > k (NaN elsewhere).
    anchors_ : dict
        ``{j: (a, low, high)}``: column j is drawn as column a plus a leaf's training
        difference ``x_j - x_a``, clipped to its training range [low, high]. Only columns
        that every training row has (no NaN, no gate) are anchored.
    orders_ : dict
        ``{j: (above, below)}``: earlier columns that column j never exceeds (``above``) or
        never falls below (``below``) in the training rows, up to `ORDER_SLACK`; a drawn value
        is clipped to them. Complete columns only, as for anchors.
    """

    def __init__(self, min_leaf: int = 20):
        self.min_leaf = min_leaf

    def fit(self, x, gates=None, random_state: int = 0) -> ProfileTrees:
        """Fit the trees on `x` (rows, columns); NaN marks a value that does not exist.

        Parameters
        ----------
        x : array-like of shape (n, p)
        gates : dict, optional
            ``{j: (g, k)}``: column j exists exactly where column g > k (g < j). Its tree
            learns from those rows only, and draws nothing elsewhere.
        random_state : int, default=0
            Seeds the trees' tie-breaking.
        """
        from sklearn.tree import DecisionTreeRegressor

        x = np.asarray(x, dtype=np.float64)
        self.gates_ = {int(j): (int(g), float(k)) for j, (g, k) in (gates or {}).items()}
        self.first_ = x[:, 0].copy()
        self.trees_ = []
        self.anchors_ = _anchors(x, self.gates_)
        self.orders_ = _orders(x, self.gates_)
        predictors = np.nan_to_num(x, nan=_ABSENT)
        for j in range(1, x.shape[1]):
            rows = ~np.isnan(x[:, j])
            if not rows.any():  # a value no training row has (say, an sd of one measurement)
                self.trees_.append(LeafTree.constant(np.nan))
                continue
            target = x[:, j] - x[:, self.anchors_[j][0]] if j in self.anchors_ else x[:, j]
            leaf = max(1, min(self.min_leaf, int(rows.sum()) // 2))
            model = DecisionTreeRegressor(min_samples_leaf=leaf, random_state=random_state)
            model.fit(predictors[rows, :j], target[rows])
            leaves = model.apply(predictors[rows, :j])
            order = np.argsort(leaves, kind="stable")
            nodes = np.arange(model.tree_.node_count)
            tree = model.tree_
            self.trees_.append(LeafTree(
                left=tree.children_left.astype(np.int64),
                right=tree.children_right.astype(np.int64),
                feature=np.maximum(tree.feature, 0).astype(np.int64),
                threshold=tree.threshold.astype(np.float64),
                pool_start=np.searchsorted(leaves[order], nodes, side="left"),
                pool_stop=np.searchsorted(leaves[order], nodes, side="right"),
                pool=target[rows][order],
            ))
        return self

    def sample(self, n: int, rng: np.random.Generator, first=None) -> np.ndarray:
        """Draw `n` rows (n, p); `first` (n,) fixes the first column instead of drawing it."""
        out = np.empty((n, len(self.trees_) + 1))
        out[:, 0] = rng.choice(self.first_, n) if first is None else first
        for j, tree in enumerate(self.trees_, start=1):
            out[:, j] = tree.draw(np.nan_to_num(out[:, :j], nan=_ABSENT), rng)
            if j in self.anchors_:
                anchor, low, high = self.anchors_[j]
                out[:, j] = np.clip(out[:, anchor] + out[:, j], low, high)
            if j in self.orders_:
                above, below = self.orders_[j]
                if above:
                    out[:, j] = np.minimum(out[:, j], out[:, above].min(axis=1))
                if below:
                    out[:, j] = np.maximum(out[:, j], out[:, below].max(axis=1))
            if j in self.gates_:
                gate, threshold = self.gates_[j]
                out[~(out[:, gate] > threshold), j] = np.nan
        return out


def _complete(x, gates) -> list:
    """Columns of `x` that every row has: no NaN, no gate."""
    return [j for j in range(x.shape[1]) if j not in gates and not np.isnan(x[:, j]).any()]


def _orders(x, gates) -> dict:
    """``{j: (above, below)}`` of the columns of `x` bounded by earlier ones (`ProfileTrees`)."""
    complete = _complete(x, gates)
    orders = {}
    for position, j in enumerate(complete[1:], start=1):
        earlier = complete[:position]
        above = [a for a in earlier if np.mean(x[:, j] > x[:, a]) <= ORDER_SLACK]
        below = [a for a in earlier if np.mean(x[:, j] < x[:, a]) <= ORDER_SLACK]
        if above or below:
            orders[j] = (above, below)
    return orders


def _anchors(x, gates) -> dict:
    """``{j: (a, low, high)}`` of the columns of `x` to draw anchored (see `ProfileTrees`)."""
    complete = _complete(x, gates)
    anchors = {}
    for position, j in enumerate(complete[1:], start=1):
        own = x[:, j].var()
        if own == 0:
            continue
        spread = [(x[:, j] - x[:, a]).var() for a in complete[:position]]
        best = int(np.argmin(spread))
        if spread[best] < ANCHOR_SHARE * own:
            anchors[j] = (complete[best], float(x[:, j].min()), float(x[:, j].max()))
    return anchors
