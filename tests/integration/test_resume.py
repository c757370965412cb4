"""A checkpointed fit that is interrupted (Ctrl-C, kill -9) resumes to the uninterrupted model."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from helpers.frames import ROLES, TINY, cohort

from cdmtehr import CDMTSynthesizer
from cdmtehr.cli import main
from cdmtehr.diffusion import training
from cdmtehr.exceptions import InvalidParameterError

# Six patients in batches of two: three optimizer steps per epoch, so that an interruption
# can land inside an epoch.
SMALL = {**TINY, "epochs": 4, "batch_size": 2}


def assert_same_fit(resumed, straight):
    for name in ("model_", "schedule_"):
        a, b = getattr(resumed, name).state_dict(), getattr(straight, name).state_dict()
        assert all(torch.equal(a[key], b[key]) for key in b), name
    seconds = [{k: v for k, v in r.items() if k != "seconds"} for r in straight.history_]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history_] == seconds


def ctrl_c_after_epoch(monkeypatch, epoch):
    """Press Ctrl-C (SIGINT to this process) once `epoch` has been recorded."""
    after_epoch = training.Progress.after_epoch

    def pressed(self, record, early_stopping=None):
        after_epoch(self, record, early_stopping)
        if record["epoch"] == epoch:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(training.Progress, "after_epoch", pressed)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_fit_stopped_by_ctrl_c_resumes_to_the_uninterrupted_model(
    early_stopping, tmp_path, monkeypatch, python_ctrl_c
):
    df = cohort(n_patients=6 + 2 * early_stopping)
    params = {**SMALL, "early_stopping": early_stopping, "validation_fraction": 0.25,
              "n_iter_no_change": 100}
    straight = CDMTSynthesizer(**params).fit(df, **ROLES)
    path = tmp_path / "fit.ckpt"
    with monkeypatch.context() as patch:
        ctrl_c_after_epoch(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            CDMTSynthesizer(**params).fit(df, **ROLES, checkpoint_path=path)
    saved = torch.load(path, weights_only=True)["training"]
    # Saved one step into the third epoch: the rest of it and the fourth are left to do.
    assert saved["position"]["epoch"] == 2 and saved["position"]["batch"] == 1
    resumed = CDMTSynthesizer(**params).fit(df, **ROLES, checkpoint_path=path)
    assert_same_fit(resumed, straight)


def test_periodic_checkpoints_leave_training_unchanged_and_a_finished_one_returns_at_once(
    tmp_path, monkeypatch
):
    df = cohort(n_patients=6)
    straight = CDMTSynthesizer(**SMALL).fit(df, **ROLES)
    path = tmp_path / "fit.ckpt"
    every_step = CDMTSynthesizer(**SMALL).fit(df, **ROLES, checkpoint_path=path,
                                              checkpoint_interval=1e-9)
    assert_same_fit(every_step, straight)
    assert torch.load(path, weights_only=True)["training"]["position"]["finished"]

    def no_training(*args, **kwargs):
        raise AssertionError("a finished checkpoint trains no further")

    monkeypatch.setattr(training, "_optimizer_step", no_training)
    assert_same_fit(CDMTSynthesizer(**SMALL).fit(df, **ROLES, checkpoint_path=path), straight)


def test_a_checkpoint_of_other_parameters_or_data_is_refused(tmp_path):
    df = cohort(n_patients=6)
    path = tmp_path / "fit.ckpt"
    CDMTSynthesizer(**SMALL).fit(df, **ROLES, checkpoint_path=path)
    with pytest.raises(InvalidParameterError, match=r"learning_rate=0.002 \(now 0.01\)"):
        CDMTSynthesizer(**SMALL, learning_rate=0.01).fit(df, **ROLES, checkpoint_path=path)
    with pytest.raises(InvalidParameterError, match="other data"):
        CDMTSynthesizer(**SMALL).fit(cohort(n_patients=7), **ROLES, checkpoint_path=path)
    # Settings that do not change training may differ.
    CDMTSynthesizer(**SMALL, sample_batch_size=3).fit(df, **ROLES, checkpoint_path=str(path),
                                                      checkpoint_interval=1.0)


def test_the_command_line_fits_with_a_checkpoint(tmp_path, capsys):
    data = tmp_path / "train.csv"
    cohort(n_patients=6).to_csv(data, index=False)
    command = ["fit", str(data), "--id-col", "pid", "--time-col", "t", "--static-cols", "sex",
               "--epochs", "2", "--random-state", "0", "--quiet", "--min-patients-per-value",
               "1", "--checkpoint",
               str(tmp_path / "fit.ckpt"), "--output", str(tmp_path / "model.cdmt")]
    assert main(command) == 0
    assert (tmp_path / "fit.ckpt").is_file()
    assert main([*command[:-1], str(tmp_path / "again.cdmt"), "--epochs", "3"]) == 2
    assert "checkpoint" in capsys.readouterr().err


_KILLED_FIT = """
import sys
sys.path.insert(0, {tests!r})
from helpers.frames import ROLES, cohort
from cdmtehr import CDMTSynthesizer
CDMTSynthesizer(**{params!r}).fit(cohort(n_patients=6), **ROLES, checkpoint_path={path!r},
                                   checkpoint_interval=0.5)
"""


@pytest.mark.slow
def test_a_fit_killed_with_sigkill_resumes_within_its_time_budget(tmp_path):
    max_time = 8.0
    path = tmp_path / "fit.ckpt"
    params = {**SMALL, "epochs": None, "max_time": max_time}
    code = _KILLED_FIT.format(tests=str(Path(__file__).parents[1]), params=params,
                              path=str(path))
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)])
    try:
        deadline = time.monotonic() + 120
        while not path.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # past the first checkpoint, mid-training
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    saved = torch.load(path, weights_only=True)["training"]
    assert 0 < saved["elapsed"] < max_time and saved["position"]["history"]

    resumed = CDMTSynthesizer(**params).fit(cohort(n_patients=6), **ROLES,
                                            checkpoint_path=path, checkpoint_interval=0.5)
    # It went on from the checkpoint: the epochs before the kill are its first ones.
    assert resumed.history_[: len(saved["position"]["history"])] == saved["position"]["history"]
    history = resumed.get_loss_values()
    assert history["seconds"].is_monotonic_increasing
    # The budget held: training stops at the first step that ends past what the first stage
    # (profile trees, charting model) left of max_time (a step takes well under a second
    # here, more on a busy machine); the first stage's seconds are not in the history.
    assert (history["seconds"].iloc[:-1] < max_time).all()
    assert max_time - 1.0 <= history["seconds"].iloc[-1] < max_time + 2.0
