"""Shared test configuration: hypothesis profiles, real data and tiny fitted models.

The fitted models here are built once per run and shared: tests may sample from them, save
them or copy them, never refit or change them (a test that needs to, builds its own).
"""

import os
import signal

import numpy as np
import pytest
from helpers.frames import ROLES, TINY, cohort
from hypothesis import HealthCheck, settings

# As cdmtehr's first fit does, but here before any test module imports torch or scikit-learn
# (none of the imports above does): OpenMP threads that spin-wait make a run on a busy machine
# many times slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
    """The bundled PhysioNet 2012 set a and its roles (read once per run)."""
    from cdmtehr.datasets import load_physionet2012

    return load_physionet2012(return_roles=True)


@pytest.fixture(scope="session")
def physionet_small(physionet):
    """The first 50 patients of the bundled set (2,400 rows)."""
    df, roles = physionet
    ids = df[roles["id_col"]].unique()[:50]
    return df[df[roles["id_col"]].isin(ids)].reset_index(drop=True), roles


@pytest.fixture(scope="session")
def physionet_model(physionet_small):
    """A tiny model of the 50 patients (shared: sample from it, never refit it)."""
    from cdmtehr import CDMTSynthesizer

    df, roles = physionet_small
    return CDMTSynthesizer(**TINY).fit(df, **roles)


@pytest.fixture(scope="session")
def tiny_conditional():
    """Six tiny patients of `helpers.frames.cohort` with an outcome of classes '0' and '1'."""
    df = cohort(n_patients=6)
    df["outcome"] = np.where(df["pid"] % 3 == 0, "1", "0")
    return df, {**ROLES, "condition_col": "outcome"}


@pytest.fixture(scope="session")
def tiny_model(tiny_conditional):
    """A tiny model of `tiny_conditional` (shared: sample, save or copy it, never refit it)."""
    from cdmtehr import CDMTSynthesizer

    df, roles = tiny_conditional
    return CDMTSynthesizer(**TINY).fit(df, **roles)


@pytest.fixture(scope="session")
def tiny_gappy_model(tiny_conditional):
    """A tiny model of `tiny_conditional` with a few values unmeasured and categories
    missing: its first stage has masks and a category to schedule (shared: never refit it)."""
    from cdmtehr import CDMTSynthesizer

    df, roles = tiny_conditional
    df = df.copy()
    df.loc[[1, 5, 10, 14], "x"] = np.nan
    df.loc[[2, 9], "c"] = None
    return CDMTSynthesizer(**TINY).fit(df, **roles)


@pytest.fixture(scope="session")
def tiny_gappy_model_file(tiny_gappy_model, tmp_path_factory):
    """`tiny_gappy_model` saved to a file (read it, copy it; damage only copies)."""
    path = tmp_path_factory.mktemp("gappy") / "model.cdmt"
    tiny_gappy_model.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_file(tiny_model, tmp_path_factory):
    """`tiny_model` saved to a file (read it, copy it; damage only copies)."""
    path = tmp_path_factory.mktemp("model") / "model.cdmt"
    tiny_model.save(path)
    return path


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler for one test, whatever the runner left in place.

    A test run started in the background (``cmd &``, nohup, some CI runners) inherits an
    ignored SIGINT, and cdmtehr then rightly leaves Ctrl-C alone.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)

