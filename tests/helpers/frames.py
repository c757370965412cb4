"""A tiny long frame with its roles, and the output contract every sample keeps."""

from types import MappingProxyType

import numpy as np
import pandas as pd

# The smallest training budget that still fits and samples; read-only, so that a test can
# only change it in its own copy ({**TINY, "epochs": 3}).
TINY = MappingProxyType(
    dict(epochs=1, max_time=None, hidden_size=8, batch_size=8, random_state=0,
         min_patients_per_value=1)
)
ROLES = {"id_col": "pid", "time_col": "t", "num_cols": ["x"], "cat_cols": ["c"],
         "static_cols": ["sex"]}


def cohort(n_patients=4, length=3):
    """`n_patients` patients of `length` hourly rows: one numeric, one categorical, one static.

    The static categorical column "sex" is in every frame: a model without any static
    categorical column cannot be fitted yet (see test_fit_without_categorical_group).
    """
    pid = np.repeat(np.arange(n_patients), length)
    return pd.DataFrame(
        {
            "pid": pid,
            "t": np.tile(np.arange(length), n_patients),
            "x": np.linspace(1.0, 2.0, n_patients * length),
            "c": (["a", "b", "c"] * (n_patients * length))[: n_patients * length],
            "sex": np.where(pid % 2 == 0, "F", "M"),
        }
    )


def assert_output_contract(out, df, roles, n):
    """The sample has the input's modelled columns, order and dtypes, and n valid patients."""
    modelled = {roles["id_col"], roles["time_col"], *roles.get("num_cols", ()),
                *roles.get("cat_cols", ()), *roles.get("static_cols", ())}
    if roles.get("condition_col") is not None:
        modelled.add(roles["condition_col"])
    columns = [c for c in df.columns if c in modelled]
    assert list(out.columns) == columns
    id_col, time_col = roles["id_col"], roles["time_col"]
    if isinstance(df[id_col].dtype, pd.CategoricalDtype):
        # Fresh ids are new categories: the dtype stays categorical, its categories change.
        assert isinstance(out[id_col].dtype, pd.CategoricalDtype)
        columns = [c for c in columns if c != id_col]
    pd.testing.assert_series_equal(out.dtypes[columns], df[columns].dtypes)
    assert isinstance(out.index, pd.RangeIndex)
    assert out[id_col].nunique() == n
    assert out[id_col].notna().all() and out[time_col].notna().all()
    # Times strictly increase within a patient; per-patient columns are constant.
    for _, rows in out.groupby(id_col, sort=False):
        assert rows[time_col].is_monotonic_increasing and rows[time_col].is_unique
        for col in [*roles.get("static_cols", ()), roles.get("condition_col")]:
            if col is not None:
                assert rows[col].nunique(dropna=False) == 1, col
    for col in roles.get("num_cols", ()):
        values = out[col].dropna().to_numpy(dtype=float)
        assert np.isfinite(values).all(), col
        assert ((values >= df[col].min()) & (values <= df[col].max())).all(), col
    for col in [*roles.get("cat_cols", ()), roles.get("condition_col")]:
        if col is not None:
            assert set(out[col].dropna()) <= set(df[col].dropna()), col
