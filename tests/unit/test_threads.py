"""Importing cdmtehr makes torch's OpenMP threads wait passively, unless the user chose."""

import ast
import importlib
import os
from pathlib import Path

import cdmtehr._threads


def test_sets_a_passive_wait_policy_when_none_is_set(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    importlib.reload(cdmtehr._threads)
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_keeps_the_users_wait_policy(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    importlib.reload(cdmtehr._threads)
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_package_imports_it_before_anything_else():
    init = Path(cdmtehr._threads.__file__).with_name("__init__.py")
    imports = [
        node for node in ast.parse(init.read_text()).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    first = imports[0]
    assert isinstance(first, ast.ImportFrom) and first.level == 1
    assert [alias.name for alias in first.names] == ["_threads"]
