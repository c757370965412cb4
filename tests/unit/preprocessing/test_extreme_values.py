"""One huge value (a float32-max sentinel, 1e308) must not merge the rest of a column."""

import numpy as np
import pytest

from cdmtehr.exceptions import DataWarning
from cdmtehr.preprocessing.encoders import NumericEncoder


@pytest.mark.parametrize("extreme", [3.4e38, 1e308, -1e308, np.finfo("float64").max])
def test_an_extreme_value_keeps_the_other_values_apart(extreme):
    rng = np.random.default_rng(0)
    values = np.r_[rng.normal(80, 10, 299).round(1), extreme]
    with pytest.warns(DataWarning, match=r"Column 'hr' has 1 value.*sentinel"):
        encoder = NumericEncoder(min_patients_per_value=1).fit(_named(values))
    scores = encoder.transform(values)
    assert np.unique(scores).size == np.unique(values).size
    assert np.all(np.isfinite(scores))
    assert np.std(scores[:-1]) > 0.5  # the bulk spreads over the normal scores
    back = encoder.inverse_transform(scores.astype("float32")).to_numpy()
    np.testing.assert_array_equal(back, values)


def test_ordinary_columns_keep_the_plain_affine_map():
    values = np.random.default_rng(1).normal(80, 10, 300)
    encoder = NumericEncoder().fit(values)
    assert encoder.robust_center_ is None and encoder.robust_scale_ is None


def _named(values):
    import pandas as pd

    return pd.Series(values, name="hr")
