"""The bundled PhysioNet 2012 sets a and b and their roles."""

import numpy as np
import pandas as pd
import pytest

from cdmtehr.datasets import (
    PHYSIONET2012_RANGES,
    PHYSIONET2012_ROLES,
    load_physionet2012,
    physionet2012_roles,
)
from cdmtehr.exceptions import InvalidDataError, InvalidParameterError


def test_load_physionet2012_shape_and_counts(physionet):
    df, roles = physionet

    assert df.shape == (192000, 47)
    assert df["patient_id"].nunique() == 4000
    assert df.groupby("patient_id")["in_hospital_death"].first().sum() == 554
    assert (df.groupby("patient_id").size() == 48).all()
    assert df["hour"].dtype == np.int16 and df["hour"].between(0, 47).all()
    assert df["in_hospital_death"].dtype == np.int8
    assert list(df["ICUType"].cat.categories) == ["CCU", "CSRU", "MICU", "SICU"]


def test_physionet2012_roles_match_the_columns(physionet):
    df, roles = physionet

    assert roles == physionet2012_roles() == PHYSIONET2012_ROLES
    named = [roles["id_col"], roles["time_col"], *roles["num_cols"], *roles["cat_cols"],
             *roles["static_cols"], roles["condition_col"]]
    assert sorted(named) == sorted(df.columns) and len(set(named)) == len(named)
    assert len(roles["num_cols"]) + len(roles["cat_cols"]) == 37
    assert all(df[c].dtype == np.float64 for c in roles["num_cols"])
    assert roles["cat_cols"] == ["MechVent"]
    assert (df.groupby("patient_id")[roles["static_cols"]].nunique(dropna=False) <= 1).all().all()


def test_physionet2012_roles_are_fresh_copies():
    roles = physionet2012_roles()
    roles["num_cols"].append("extra")
    assert "extra" not in physionet2012_roles()["num_cols"]


def test_load_physionet2012_without_roles_returns_the_frame():
    assert isinstance(load_physionet2012(), pd.DataFrame)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_load_physionet2012_from_a_file(physionet_small, tmp_path, suffix):
    df, _ = physionet_small
    path = tmp_path / f"physionet{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path)

    loaded, roles = load_physionet2012(path, return_roles=True)

    expected = df.copy()
    expected["set"] = expected["set"].cat.set_categories(["a", "b", "c"])
    expected["MechVent"] = expected["MechVent"].cat.set_categories(["0", "1"])
    # Both formats come back with the published levels (a+b+c), whatever the file stored.
    pd.testing.assert_frame_equal(loaded, expected)


def test_load_physionet2012_reads_numbers_as_levels(physionet_small, tmp_path):
    df, _ = physionet_small
    numbers = df.astype({"MechVent": "float64", "MechVent_any": "int64"})
    numbers.to_parquet(tmp_path / "numbers.parquet")
    loaded = load_physionet2012(tmp_path / "numbers.parquet")
    assert list(loaded["MechVent"].cat.categories) == ["0", "1"]
    pd.testing.assert_series_equal(
        loaded["MechVent"].isna(), df["MechVent"].isna(), check_names=False
    )
    assert (loaded["MechVent_any"].astype(str) == df["MechVent_any"].astype(str)).all()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda df: df.drop(columns=["HR"]), "Column 'HR' is not in"),
        (lambda df: df.assign(Gender="unknown"), "Column 'Gender' .* outside the published"),
    ],
)
def test_load_physionet2012_names_what_is_wrong_with_a_file(physionet_small, tmp_path,
                                                            change, message):
    df, _ = physionet_small
    change(df).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InvalidDataError, match=message):
        load_physionet2012(tmp_path / "bad.parquet")


def test_load_physionet2012_rejects_other_files(tmp_path):
    with pytest.raises(InvalidParameterError, match="parquet or .csv"):
        load_physionet2012(tmp_path / "data.xlsx")


@pytest.fixture(scope="module")
def physionet_b():
    return load_physionet2012(part="b", return_roles=True)


def test_load_physionet2012_set_b_shape_and_counts(physionet_b):
    df, roles = physionet_b

    assert df.shape == (192000, 47)
    assert df["patient_id"].nunique() == 4000
    assert df.groupby("patient_id")["in_hospital_death"].first().sum() == 568
    assert (df.groupby("patient_id").size() == 48).all()
    assert roles == physionet2012_roles()
    assert list(df["set"].cat.categories) == ["b"]


def test_set_b_has_the_layout_of_set_a_and_other_patients(physionet, physionet_b):
    a, b = physionet[0], physionet_b[0]

    assert list(b.columns) == list(a.columns)
    for col in a.columns:
        if col != "set":  # each bundled file keeps only its own level of `set`
            assert b[col].dtype == a[col].dtype, col
    # Same row order: by patient, then hour 0..47.
    assert b["patient_id"].is_monotonic_increasing
    assert (b["hour"].to_numpy() == np.tile(np.arange(48), 4000)).all()
    assert not set(a["patient_id"]) & set(b["patient_id"])


def test_load_physionet2012_part_a_is_the_default(physionet):
    pd.testing.assert_frame_equal(load_physionet2012(part="a"), physionet[0])


def test_load_physionet2012_cleans_set_b(physionet_b):
    raw, cleaned = physionet_b[0], load_physionet2012(part="b", clean=True)

    assert raw["pH"].max() > 8.0  # set b has the quirks of set a
    for col, (low, high) in PHYSIONET2012_RANGES.items():
        assert cleaned[col].dropna().between(low, high).all(), col


@pytest.mark.parametrize("part", ["c", "A", "ab", "", None, 1, ["a"]])
def test_load_physionet2012_rejects_other_parts(part):
    with pytest.raises(InvalidParameterError, match=r"'part'.*\['a', 'b'\]"):
        load_physionet2012(part=part)


def test_load_physionet2012_part_b_cannot_go_with_a_path(physionet_small, tmp_path):
    df, _ = physionet_small
    df.to_parquet(tmp_path / "table.parquet")

    with pytest.raises(InvalidParameterError, match="'part'.*'path'"):
        load_physionet2012(tmp_path / "table.parquet", part="b")
    # The default part is no choice of the user's, so a path alone still works.
    assert len(load_physionet2012(tmp_path / "table.parquet", part="a")) == len(df)
