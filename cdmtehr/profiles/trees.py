"""ProfileTrees: rows of a numeric table drawn one column at a time by regression trees.

Column j is drawn given the columns before it: a regression tree fitted on those columns
routes the row to a leaf, and the value is drawn from that leaf's training values of column j
(the CART method of synthpop: Reiter 2005, *Using CART to generate partially synthetic public
use files*, J. Official Statistics 21(3); Nowok, Raab & Dibben 2016). Every leaf holds at least
`min_leaf` training rows, and keeps of them only pooled knots: values that several rows share,
or means of groups of rows (`cdmtehr.disclosure`), so that no row can be read back from a
fitted model. The fitted trees are plain arrays, so a model file stores them without pickle.

A column that, in every training row, lies close to an earlier column (a blood gas's pH counted
about as often as its PaO2, systolic and diastolic pressures charted together) is drawn
*anchored*: as the row's value of that earlier column plus a leaf's training difference. Leaf
values alone break such relations whenever a leaf mixes rows of different anchor values, and a
stay generated with "systolic without diastolic" gives itself away. Likewise a column that
never exceeds (or never falls below) an earlier one in the training rows (a weight charted at
most as often as the heart rate) is clipped to it when drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..disclosure import MIN_PATIENTS, pooled_knots, pooled_quantiles

# Stands for "no such value" among the predictors (the level of a value never measured).
_ABSENT = -1e6
# A column is anchored to the earlier column whose difference from it has the smallest
# variance, when that variance is under this share of the column's own.
ANCHOR_SHARE = 0.5
# An order between two columns holds in all but this share of the training rows to be kept.
ORDER_SLACK = 0.002
# Most leaves per tree, knots per leaf and knots of the first column: a fitted model's size
# does not grow with the training cohort.
MAX_LEAVES = 32
LEAF_KNOTS = 10
FIRST_KNOTS = 64


@dataclass
class LeafTree:
    """A fitted regression tree and, per leaf, the distribution of its training values.

    A leaf keeps no training value of its own: its values are summarised by a smoothed quantile
    function through at most `LEAF_KNOTS` knots, each a value that at least `min_patients` of
    its patients share or the mean of a group of at least that many
    (`cdmtehr.disclosure.pooled_quantiles`).

    Attributes
    ----------
    left, right : ndarray of int32
        Children of each node; -1 at a leaf.
    feature : ndarray of int32
        Predictor column tested at each node.
    threshold : ndarray of float64
        A row goes left when its predictor is <= the threshold.
    knot_start, knot_stop : ndarray of int32
        The knots of leaf node i are ``knots[knot_start[i]:knot_stop[i]]`` (empty at inner nodes).
    knots, levels : ndarray of float32
        The points of every leaf's quantile function: values, and the cumulative share of the
        leaf's rows at each (float32, as the profiles the denoiser reads).
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    knot_start: np.ndarray
    knot_stop: np.ndarray
    knots: np.ndarray
    levels: np.ndarray

    @classmethod
    def single_leaf(cls, knots, levels) -> LeafTree:
        """A tree of one leaf with this quantile function (a knot of NaN: never drawn)."""
        one = np.zeros(1, dtype=np.int32)
        return cls(one - 1, one - 1, one, np.zeros(1), one, one + len(knots),
                   np.asarray(knots, dtype=np.float32), np.asarray(levels, dtype=np.float32))

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
        """A draw from each row's leaf (inverse transform sampling of its quantile function)."""
        node = self.leaves(x)
        leaf = self.left < 0
        return draw_quantiles(self.knots, self.levels, self.knot_start[leaf],
                              self.knot_stop[leaf], self.knot_start[node], self.knot_stop[node],
                              rng)


def draw_quantiles(knots, levels, leaf_start, leaf_stop, start, stop, rng) -> np.ndarray:
    """``np.interp(u, levels[a:b], knots[a:b])`` for a uniform u per row, where (a, b) =
    (start, stop) is the row's leaf among the leaves' ranges (leaf_start, leaf_stop) of the
    points: adding twice a leaf's start to its levels (in [0, 1]) orders all the points into
    one increasing key, so that one search serves every row."""
    # The leaves' points lie one after the other in leaf order.
    owner = np.repeat(leaf_start, leaf_stop - leaf_start).astype(np.float64)
    key = levels.astype(np.float64) + 2.0 * owner
    u = rng.random(len(start))
    above = np.clip(np.searchsorted(key, u + 2.0 * start, side="right"), start, stop - 1)
    below = np.clip(above - 1, start, stop - 1)
    low, high = key[below] - 2.0 * start, key[above] - 2.0 * start
    span = high - low
    share = np.where(span > 0, np.clip((u - low) / np.where(span > 0, span, 1.0), 0.0, 1.0), 0.0)
    low, high = knots[below].astype(np.float64), knots[above].astype(np.float64)
    return low + share * (high - low)


class ProfileTrees:
    """Sequential regression trees over the columns of a table (synthpop's CART method).

    A row of the table is one patient. Nothing a fitted `ProfileTrees` keeps is one patient's:
    leaves and the first column hold pooled knots (`LeafTree`), the clipping range of an
    anchored column is its pooled extremes, and the rows' order is not kept.

    Parameters
    ----------
    min_leaf : int, default=20
        Fewest training rows in a leaf. A column that fewer rows have is drawn from
        `fallback` (see `fit`), or else from one leaf of all its rows.
    min_patients : int, default=MIN_PATIENTS
        Fewest rows behind each knot (`cdmtehr.disclosure.pooled_quantiles`); a column that
        fewer rows have is never drawn (NaN).
    max_leaves : int, default=MAX_LEAVES
        Most leaves of a tree, so that a fitted model does not grow with the cohort.

    Attributes
    ----------
    first_knots_, first_levels_ : ndarray
        Smoothed quantile function of the first column (drawn from, unless given).
    trees_ : list of LeafTree
        The tree of every later column.
    integer_ : ndarray of bool
        Columns whose training values are all integers; their draws are rounded.
    gates_ : dict
        ``{j: (g, k)}``: column j exists only where column g > k (NaN elsewhere).
    anchors_ : dict
        ``{j: (a, low, high)}``: column j is drawn as column a plus a leaf's pooled training
        difference ``x_j - x_a``, clipped to [low, high], its first and last pooled knots.
        Only columns that every training row has (no NaN, no gate) are anchored.
    orders_ : dict
        ``{j: (above, below)}``: earlier columns that column j never exceeds (``above``) or
        never falls below (``below``) in the training rows, up to `ORDER_SLACK`; a drawn value
        is clipped to them. Complete columns only, as for anchors.
    """

    def __init__(self, min_leaf: int = 20, min_patients: int = MIN_PATIENTS,
                 max_leaves: int = MAX_LEAVES):
        self.min_leaf = min_leaf
        self.min_patients = min_patients
        self.max_leaves = max_leaves

    def fit(self, x, gates=None, random_state: int = 0, fallback=None) -> ProfileTrees:
        """Fit the trees on `x` (rows, columns); NaN marks a value that does not exist.

        Parameters
        ----------
        x : array-like of shape (n, p)
        gates : dict, optional
            ``{j: (g, k)}``: column j exists exactly where column g > k (g < j). Its tree
            learns from those rows only, and draws nothing elsewhere.
        random_state : int, default=0
            Seeds the trees' tie-breaking.
        fallback : ProfileTrees, optional
            Fitted on a larger table of the same columns (all condition classes together): a
            column that fewer than `min_leaf` rows of `x` have takes its tree.
        """
        from sklearn.tree import DecisionTreeRegressor

        x = np.asarray(x, dtype=np.float64)
        self.gates_ = {int(j): (int(g), float(k)) for j, (g, k) in (gates or {}).items()}
        finite = np.where(np.isnan(x), 0.0, x)
        self.integer_ = np.all(finite == np.round(finite), axis=0)
        self.first_knots_, self.first_levels_ = pooled_quantiles(
            x[:, 0], min_patients=self.min_patients, max_knots=FIRST_KNOTS)
        if not len(self.first_knots_):
            raise ValueError(
                f"A profile table of {len(x)} rows has fewer than {self.min_patients}; a "
                "fitted model keeps no value of fewer patients."
            )
        self.trees_ = []
        self.anchors_ = self._anchors(x)
        self.orders_ = _orders(x, self.gates_)
        predictors = np.nan_to_num(x, nan=_ABSENT)
        for j in range(1, x.shape[1]):
            rows = ~np.isnan(x[:, j])
            target = x[:, j] - x[:, self.anchors_[j][0]] if j in self.anchors_ else x[:, j]
            if rows.sum() < max(self.min_leaf, self.min_patients):
                if fallback is not None and j not in self.anchors_:
                    self.trees_.append(fallback.trees_[j - 1])
                else:  # one leaf of all the rows there are, or nothing under min_patients
                    knots, levels = pooled_quantiles(
                        target[rows], min_patients=self.min_patients, max_knots=LEAF_KNOTS)
                    if not len(knots):
                        knots, levels = np.array([np.nan]), np.ones(1)
                    self.trees_.append(LeafTree.single_leaf(knots, levels))
                continue
            model = DecisionTreeRegressor(min_samples_leaf=max(self.min_leaf, self.min_patients),
                                          max_leaf_nodes=self.max_leaves,
                                          random_state=random_state)
            model.fit(predictors[rows, :j], target[rows])
            self.trees_.append(self._leaf_tree(model.tree_, model.apply(predictors[rows, :j]),
                                               target[rows], _common(target[rows],
                                                                     self.min_patients)))
        return self

    def _leaf_tree(self, tree, leaf_of_row, target, common) -> LeafTree:
        """A `LeafTree` of a fitted scikit-learn tree, each leaf summarised by pooled knots."""
        start = np.zeros(tree.node_count, dtype=np.int64)
        stop = np.zeros(tree.node_count, dtype=np.int64)
        knots, levels = [], []
        for node in np.flatnonzero(tree.children_left < 0):
            leaf_knots, leaf_levels = pooled_quantiles(
                target[leaf_of_row == node], min_patients=self.min_patients,
                max_knots=LEAF_KNOTS, common=common)
            start[node] = sum(map(len, knots))
            stop[node] = start[node] + len(leaf_knots)
            knots.append(leaf_knots)
            levels.append(leaf_levels)
        return LeafTree(
            left=tree.children_left.astype(np.int32),
            right=tree.children_right.astype(np.int32),
            feature=np.maximum(tree.feature, 0).astype(np.int32),
            threshold=tree.threshold.astype(np.float64),
            knot_start=start.astype(np.int32),
            knot_stop=stop.astype(np.int32),
            knots=np.concatenate(knots).astype(np.float32),
            levels=np.concatenate(levels).astype(np.float32),
        )

    def sample(self, n: int, rng: np.random.Generator, given=None) -> np.ndarray:
        """Draw `n` rows (n, p).

        `given` ((n,) or (n, k)) fixes the first k columns instead of drawing them; the
        later columns are drawn given them (NaN: absent, as a gate leaves it).
        """
        out = np.empty((n, len(self.trees_) + 1))
        given = np.empty((n, 0)) if given is None else np.asarray(given, float).reshape(n, -1)
        if given.shape[1]:
            out[:, : given.shape[1]] = given
        else:
            ends = np.array([0]), np.array([len(self.first_knots_)])
            first = draw_quantiles(self.first_knots_, self.first_levels_, *ends,
                                   np.zeros(n, np.int64), np.full(n, ends[1][0]), rng)
            out[:, 0] = np.round(first) if self.integer_[0] else first
        for j, tree in enumerate(self.trees_, start=1):
            if j < given.shape[1]:
                continue
            out[:, j] = tree.draw(np.nan_to_num(out[:, :j], nan=_ABSENT), rng)
            if j in self.anchors_:
                anchor, low, high = self.anchors_[j]
                out[:, j] = np.clip(out[:, anchor] + out[:, j], low, high)
            if self.integer_[j]:  # a pooled knot of counts is a mean: back to a count
                out[:, j] = np.round(out[:, j])
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

    def _anchors(self, x) -> dict:
        """``{j: (a, low, high)}`` of the columns of `x` to draw anchored (see `ProfileTrees`)."""
        complete = _complete(x, self.gates_)
        anchors = {}
        for position, j in enumerate(complete[1:], start=1):
            own = x[:, j].var()
            if own == 0:
                continue
            spread = [(x[:, j] - x[:, a]).var() for a in complete[:position]]
            best = int(np.argmin(spread))
            if spread[best] < ANCHOR_SHARE * own:
                knots, _ = pooled_knots(x[:, j], min_patients=self.min_patients)
                anchors[j] = (complete[best], float(knots[0]), float(knots[-1]))
        return anchors


def _common(column, min_patients) -> np.ndarray:
    """Values of a column that at least `min_patients` rows (patients) have: a leaf keeps them
    exactly however few of its own rows have them (a count of 0, a lab's usual value)."""
    values, counts = np.unique(column, return_counts=True)
    return values[counts >= min_patients]


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
