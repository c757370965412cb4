"""The version string is the installed package's, and a valid PEP 440 version."""

import importlib.metadata
from pathlib import Path

from packaging.version import Version

import cdmtehr
from cdmtehr import _version


def test_the_package_exports_the_version_of_its_version_module():
    assert cdmtehr.__version__ is _version.__version__
    assert "__version__" in cdmtehr.__all__


def test_the_version_is_the_installed_packages():
    # A mismatch means the installed metadata is stale: reinstall (pip install -e .).
    assert importlib.metadata.version("cdmtehr") == _version.__version__


def test_the_version_is_pep_440_and_normalized():
    assert str(Version(_version.__version__)) == _version.__version__


def test_the_build_reads_the_version_from_the_module():
    setup_cfg = Path(__file__).resolve().parents[2] / "setup.cfg"
    assert "version = attr: cdmtehr._version.__version__" in setup_cfg.read_text()
