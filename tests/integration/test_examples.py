"""The examples run (smoke test, tiny budget via CDMTEHR_QUICK=1)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script, tmp_path):
    env = {**os.environ, "CDMTEHR_QUICK": "1"}
    args = [sys.executable, str(EXAMPLES / script)]
    if script == "evaluation_report.py":
        args.append(str(tmp_path / "report.html"))
    result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def test_examples_are_short():
    for script in SCRIPTS:
        assert len((EXAMPLES / script).read_text().splitlines()) < 60, script
