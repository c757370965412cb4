"""Importing cdmtehr changes nothing; torch's OpenMP threads wait passively from the first fit
(or the command line) on, unless CDMTEHR_THREAD_POLICY=off or the user chose a policy.

Each test runs a fresh Python: OpenMP reads its wait policy once, when torch loads, and this
process loaded torch long ago. ``OMP_DISPLAY_ENV=VERBOSE`` makes each OpenMP runtime print the
settings it started with; ``GOMP_SPINCOUNT`` is 0 for passive threads, 300000 by default.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
MARK = "-- torch work begins --"


def run(code, **environment):
    """Run `code` in a fresh Python without a wait policy or switch of its own; its stderr."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "CDMTEHR_THREAD_POLICY")}
    env.update(environment, OMP_DISPLAY_ENV="VERBOSE")
    prelude = f"import os, sys\nsys.path.insert(0, {str(TESTS)!r})\n"
    result = subprocess.run([sys.executable, "-c", prelude + code], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stderr


def spin_counts_after_the_mark(stderr):
    """GOMP_SPINCOUNT of each OpenMP runtime that started after `MARK` (torch's)."""
    return re.findall(r"GOMP_SPINCOUNT = '(\d+)'", stderr.split(MARK, 1)[1])


def test_importing_cdmtehr_loads_no_torch_and_changes_no_environment_variable():
    # scikit-learn, on which the estimator is built, sets two Intel OpenMP variables when it
    # is imported: the snapshot is taken after it.
    run("""
import sklearn
from sklearn.base import clone
before = dict(os.environ)
import cdmtehr
import cdmtehr.cli
from cdmtehr import CDMTSynthesizer
from cdmtehr.exceptions import NotFittedError
synth = clone(CDMTSynthesizer(hidden_size=8))
repr(synth)
try:
    synth.sample(2)
except NotFittedError:
    pass
assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())
assert "torch" not in sys.modules
""")


FIT = """
from helpers.frames import ROLES, TINY, cohort
from cdmtehr import CDMTSynthesizer
print({mark!r}, file=sys.stderr, flush=True)
{fit}
assert "torch" in sys.modules
print("policy:", os.environ.get("OMP_WAIT_POLICY"), file=sys.stderr)
"""
TINY_FIT = "CDMTSynthesizer(**TINY).fit(cohort(), **ROLES)"
# A fit that fails on its parameters after importing what fitting needs (torch included).
FAILED_FIT = """
from cdmtehr.exceptions import InvalidParameterError
try:
    CDMTSynthesizer(**{**TINY, "batch_size": 0}).fit(cohort(), **ROLES)
except InvalidParameterError:
    pass
"""


def test_fitting_starts_torch_with_passive_threads():
    stderr = run(FIT.format(mark=MARK, fit=TINY_FIT))
    assert spin_counts_after_the_mark(stderr) == ["0"]
    assert "policy: PASSIVE" in stderr


def test_the_switch_leaves_openmp_as_it_is():
    stderr = run(FIT.format(mark=MARK, fit=FAILED_FIT), CDMTEHR_THREAD_POLICY="off")
    assert spin_counts_after_the_mark(stderr) == ["300000"]
    assert "policy: None" in stderr


@pytest.mark.slow
def test_a_policy_the_user_set_is_kept():
    stderr = run(FIT.format(mark=MARK, fit=FAILED_FIT), OMP_WAIT_POLICY="ACTIVE")
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in stderr.split(MARK, 1)[1]
    assert "policy: ACTIVE" in stderr


@pytest.mark.slow
def test_loading_a_model_starts_torch_with_passive_threads(tiny_model_file):
    load = f"CDMTSynthesizer.load({str(tiny_model_file)!r})"
    stderr = run(FIT.format(mark=MARK, fit=load))
    assert spin_counts_after_the_mark(stderr) == ["0"]


def test_the_command_line_sets_the_policy_before_it_imports_torch(tmp_path):
    stderr = run(f"""
import cdmtehr.cli
assert "torch" not in sys.modules
print({MARK!r}, file=sys.stderr, flush=True)
code = cdmtehr.cli.main(["sample", {str(tmp_path / "none.cdmt")!r}, "-n", "1", "--output",
                         {str(tmp_path / "out.csv")!r}])
assert code == 2 and "torch" in sys.modules  # no such model file, after the parser's checks
print("policy:", os.environ.get("OMP_WAIT_POLICY"), file=sys.stderr)
""")
    assert spin_counts_after_the_mark(stderr) == ["0"]
    assert "policy: PASSIVE" in stderr
