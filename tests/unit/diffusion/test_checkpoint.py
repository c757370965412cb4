"""Checkpoint files: fingerprints, atomic safe writes, refusals, Ctrl-C held to a step's end."""

import os
import signal

import numpy as np
import pytest
import torch
from helpers.frames import ROLES, cohort

from cdmtehr.diffusion.checkpoint import Checkpoint, fit_fingerprint, held_interrupts
from cdmtehr.exceptions import InvalidParameterError, ModelFileError
from cdmtehr.preprocessing import SequencePreprocessor
from cdmtehr.synthesizer import CDMTSynthesizer


def encoded(n_patients=4):
    preprocessor = SequencePreprocessor(min_patients_per_value=1)
    return preprocessor.fit_transform(cohort(n_patients=n_patients), **ROLES)


def params(**changes):
    return CDMTSynthesizer(epochs=2, max_time=None, random_state=0, **changes).get_params()


def test_the_fingerprint_covers_training_parameters_and_data_only():
    data = encoded()
    reference = fit_fingerprint(params(), data)
    assert fit_fingerprint(params(), encoded()) == reference
    # Verbosity, the device and the sampling chunk do not change training.
    free = params(verbose=True, device="cpu", sample_batch_size=7)
    assert fit_fingerprint(free, data) == reference
    assert fit_fingerprint(params(hidden_size=9), data) != reference
    assert fit_fingerprint(params(), encoded(n_patients=5))["data"] != reference["data"]
    # A live random generator has no stable value: its draws are what the checkpoint keeps.
    live = fit_fingerprint({**params(), "random_state": np.random.RandomState(0)}, data)
    assert live["parameters"]["random_state"] is None


def test_a_checkpoint_round_trips_and_is_refused_by_another_fit(tmp_path):
    path = tmp_path / "deep" / "fit.ckpt"
    fingerprint = fit_fingerprint(params(), encoded())
    checkpoint = Checkpoint(path, 60, fingerprint)
    assert checkpoint.resumed is None and path.parent.is_dir() and not checkpoint.due()
    generator = torch.Generator().manual_seed(3)
    checkpoint.start(generator)
    training = {"modules": {"w": torch.arange(3.0)}, "optimizer": {}, "generators": {},
                "early_stopping": None, "position": {"step": 7}, "elapsed": 1.5}
    checkpoint.save(training)
    assert [p.name for p in tmp_path.joinpath("deep").iterdir()] == ["fit.ckpt"]  # no temp left

    again = Checkpoint(path, 60, fingerprint)
    assert again.resumed["position"] == {"step": 7} and again.resumed["elapsed"] == 1.5
    assert torch.equal(again.resumed["modules"]["w"], torch.arange(3.0))
    other = torch.Generator().manual_seed(99)
    again.start(other)  # back where the checkpointed fit's generator started
    assert torch.equal(other.get_state(), torch.Generator().manual_seed(3).get_state())

    with pytest.raises(InvalidParameterError, match=r"hidden_size=128 \(now 9\)"):
        Checkpoint(path, 60, fit_fingerprint(params(hidden_size=9), encoded()))
    with pytest.raises(InvalidParameterError, match="other data .4 patients.*now 5"):
        Checkpoint(path, 60, fit_fingerprint(params(), encoded(n_patients=5)))


def test_a_foreign_or_code_carrying_file_is_refused_without_running_code(tmp_path):
    fingerprint = fit_fingerprint(params(), encoded())
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="not a cdmtehr checkpoint"):
        Checkpoint(garbage, 60, fingerprint)

    marker = tmp_path / "ran"
    hostile = tmp_path / "hostile.ckpt"
    torch.save({"format": _RunsCode(str(marker))}, hostile)  # a pickle that would run code
    with pytest.raises(ModelFileError):
        Checkpoint(hostile, 60, fingerprint)
    assert not marker.exists()

    plain = tmp_path / "plain.ckpt"
    torch.save({"weights": torch.zeros(2)}, plain)  # tensors, but not a checkpoint
    with pytest.raises(ModelFileError, match="not a checkpoint of this cdmtehr version"):
        Checkpoint(plain, 60, fingerprint)


class _RunsCode:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_an_unwritable_checkpoint_path_fails_before_training(tmp_path):
    with pytest.raises(InvalidParameterError, match="cannot be written"):
        Checkpoint(tmp_path, 60, fit_fingerprint(params(), encoded()))


def test_ctrl_c_is_held_to_the_end_of_the_step_and_a_second_one_stops_at_once(python_ctrl_c):
    previous = signal.getsignal(signal.SIGINT)
    with held_interrupts(True) as interrupts:
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupts.requested  # not raised
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            interrupts.raise_if_requested()
    assert signal.getsignal(signal.SIGINT) is previous
    with held_interrupts(False) as interrupts:  # without a checkpoint Ctrl-C is not held
        assert signal.getsignal(signal.SIGINT) is previous
        interrupts.raise_if_requested()
