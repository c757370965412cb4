"""Shared test configuration: hypothesis profiles and data fixtures."""

import os

import pytest
from hypothesis import HealthCheck, settings

# "ci" (default) is fast and deterministic; HYPOTHESIS_PROFILE=dev explores more examples.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def physionet():
    """The bundled PhysioNet 2012 set a and its roles (read once per session)."""
    from cdmtehr.datasets import load_physionet2012

    return load_physionet2012(return_roles=True)


@pytest.fixture(scope="session")
def physionet_small(physionet):
    """The first 50 patients of the bundled set (2,400 rows)."""
    df, roles = physionet
    ids = df[roles["id_col"]].unique()[:50]
    return df[df[roles["id_col"]].isin(ids)].reset_index(drop=True), roles
