"""load_physionet2012(clean=True): the documented repairs, and the published table by default."""

import numpy as np

from cdmtehr.datasets import PHYSIONET2012_RANGES, PHYSIONET2012_UNITS, load_physionet2012


def test_the_default_is_the_published_table(physionet):
    df, _ = physionet
    assert df["pH"].max() == 735.0


def test_clean_repairs_ph_without_its_decimal_point_and_removes_impossible_values(physionet):
    raw, roles = physionet
    clean = load_physionet2012(clean=True)
    assert clean.shape == raw.shape
    was_735 = raw["pH"] == 735.0
    assert np.allclose(clean.loc[was_735, "pH"], 7.35)
    for col, (low, high) in PHYSIONET2012_RANGES.items():
        values = clean[col].dropna()
        assert values.between(low, high).all(), col
    assert clean["Temp"].min() >= 25 and raw["Temp"].min() < 0
    # Plausible values are untouched.
    plausible = raw["HR"].between(*PHYSIONET2012_RANGES["HR"])
    assert clean.loc[plausible, "HR"].equals(raw.loc[plausible, "HR"])


def test_every_numeric_column_has_a_unit_and_a_range(physionet):
    _, roles = physionet
    numeric = [*roles["num_cols"], "Age", "Height", "Weight_admit"]
    assert set(numeric) - {"pH"} <= set(PHYSIONET2012_UNITS)  # pH has no unit
    assert set(numeric) <= set(PHYSIONET2012_RANGES)
