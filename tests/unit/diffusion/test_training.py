"""Training: the loss goes down, budgets and the learning rate; early stopping with its
validation loss, patience, best weights restored and errors before training."""

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.encoded import make_cohort, make_denoiser
from helpers.frames import TINY

from cdmtehr import CDMTSynthesizer
from cdmtehr.diffusion import training
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.diffusion.schedule import FactorizedSchedule
from cdmtehr.diffusion.training import TrainingConfig, _EarlyStopping, train
from cdmtehr.exceptions import InvalidParameterError

# A budget that early stopping ends well before its last epoch.
FAST = {**TINY, "epochs": 30}


def _train(layout, tensors, seed, epochs=30):
    denoiser = make_denoiser(layout, tensors, seed)
    schedule = FactorizedSchedule(layout)
    generator = torch.Generator().manual_seed(seed)
    config = TrainingConfig(epochs=epochs, batch_size=16)
    return train(denoiser, schedule, tensors, config, generator=generator)


def test_training_lowers_the_loss_and_is_deterministic(parts):
    _, layout, tensors, _ = parts
    ema, history = _train(layout, tensors, seed=0)
    assert history[-1]["diffusion"] < history[0]["diffusion"]
    ema_again, _ = _train(layout, tensors, seed=0)
    for a, b in zip(ema.state_dict().values(), ema_again.state_dict().values()):
        assert torch.equal(a, b)


def test_training_stops_at_max_time(parts):
    _, layout, tensors, denoiser = parts
    _, history = train(
        denoiser,
        FactorizedSchedule(layout),
        tensors,
        TrainingConfig(max_time=0.5, batch_size=8),
        generator=torch.Generator().manual_seed(0),
    )
    assert 0.5 <= history[-1]["seconds"] < 30


def test_training_needs_a_budget():
    with pytest.raises(ValueError, match="epochs or max_time"):
        TrainingConfig()


def test_learning_rate_warms_up_then_decays_to_a_tenth_over_the_budget():
    from cdmtehr.diffusion.training import TrainingBudget

    budget = TrainingBudget(TrainingConfig(epochs=10, batch_size=10, warmup_steps=4), 100, 1)
    assert budget.total_steps == 100
    factors = [budget.learning_rate_factor(step) for step in (0, 3, 50, 100, 200)]
    assert factors[0] == pytest.approx(0.25, rel=1e-3)  # a quarter of the warm-up
    assert factors[1] == pytest.approx(1.0, abs=0.01)  # warmed up, barely decayed
    assert factors[2] == pytest.approx(0.55, rel=1e-3)  # half way: cosine at 1/2
    assert factors[3] == factors[4] == pytest.approx(0.1)


@pytest.fixture
def small(physionet_small):
    return physionet_small


def test_patience_stops_and_history_has_validation_loss(small):
    df, roles = small
    # tol larger than any loss: only the first epoch counts as an improvement.
    synth = CDMTSynthesizer(early_stopping=True, n_iter_no_change=2, tol=1e6, **FAST)
    losses = synth.fit(df, **roles).get_loss_values()
    assert len(losses) == 3  # epoch 1 is the best; epochs 2 and 3 do not improve
    assert losses["stopped_early"].tolist() == [False, False, True]
    assert (losses["best_epoch"] == 1).all()
    assert np.isfinite(losses["val_loss"]).all()
    assert synth.sample(3, random_state=0)[roles["id_col"]].nunique() == 3


def test_without_early_stopping_trains_to_the_epoch_budget(small):
    df, roles = small
    losses = CDMTSynthesizer(**{**FAST, "epochs": 3}).fit(df, **roles).get_loss_values()
    assert len(losses) == 3
    assert "val_loss" not in losses


def test_validation_loss_is_deterministic_and_improves(small):
    df, roles = small
    params = dict(early_stopping=True, n_iter_no_change=100, **{**FAST, "epochs": 8})
    first = CDMTSynthesizer(**params).fit(df, **roles).get_loss_values()
    second = CDMTSynthesizer(**params).fit(df, **roles).get_loss_values()
    np.testing.assert_array_equal(first["val_loss"], second["val_loss"])
    assert first["val_loss"].iloc[-1] < first["val_loss"].iloc[0]
    assert not first["stopped_early"].any()


def test_held_out_patients_are_not_trained_on(small):
    df, roles = small
    synth = CDMTSynthesizer(
        early_stopping=True, validation_fraction=0.2, **{**FAST, "epochs": 1, "batch_size": 1}
    )
    losses = synth.fit(df, **roles).get_loss_values()
    assert losses["steps"].iloc[-1] == 40  # one step per training patient: 50 - 10 held out
    assert synth.n_patients_ == 50


def test_best_weights_are_restored():
    ema = torch.nn.Linear(2, 1)
    schedule = torch.nn.Linear(1, 1)
    config = TrainingConfig(epochs=1, batch_size=1, n_iter_no_change=2, tol=0.0)
    stopper = _EarlyStopping(None, seed=0, config=config)
    assert not stopper.update(1, 1.0, ema, schedule)
    best = [p.detach().clone() for p in (*ema.parameters(), *schedule.parameters())]
    for module in (ema, schedule):
        torch.nn.init.constant_(module.weight, 7.0)
    assert not stopper.update(2, 1.5, ema, schedule)
    assert stopper.update(3, 1.0, ema, schedule)  # equal to the best is no improvement
    stopper.restore(ema, schedule)
    for kept, now in zip(best, (*ema.parameters(), *schedule.parameters())):
        torch.testing.assert_close(kept, now)
    assert stopper.best_epoch == 1


def test_too_few_patients_for_a_validation_set_fails_before_training(monkeypatch):
    import cdmtehr._fitting as fitting

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(fitting, "fit_diffusion", no_training)
    one = pd.DataFrame({"id": [1, 1, 1], "t": [0, 1, 2], "hr": [80.0, 82.0, np.nan]})
    with pytest.raises(InvalidParameterError, match="validation_fraction"):
        CDMTSynthesizer(early_stopping=True, **FAST).fit(one, id_col="id", time_col="t")


@pytest.mark.parametrize(
    "param, value",
    [
        ("validation_fraction", 0.0),
        ("validation_fraction", 1.0),
        ("n_iter_no_change", 0),
        ("tol", -1.0),
        ("early_stopping", "yes"),
    ],
)
def test_bad_early_stopping_parameters(small, param, value):
    df, roles = small
    with pytest.raises(InvalidParameterError, match=param):
        CDMTSynthesizer(**{param: value}, **FAST).fit(df, **roles)


def test_progress_log_shows_validation_loss_and_patience(small, caplog, monkeypatch):
    import cdmtehr.diffusion.training as training

    monkeypatch.setattr(training, "_progress_bar", lambda *args: None)  # log lines, no tqdm
    df, roles = small
    with caplog.at_level(logging.INFO, logger="cdmtehr.diffusion.training"):
        CDMTSynthesizer(
            early_stopping=True, n_iter_no_change=1, tol=1e6, verbose=True, **FAST
        ).fit(df, **roles)
    assert "val" in caplog.text and "no_change 1/1" in caplog.text


def test_progress_bar_shows_validation_loss_and_patience(small, capsys):
    pytest.importorskip("tqdm")
    df, roles = small
    CDMTSynthesizer(
        early_stopping=True, n_iter_no_change=1, tol=1e6, verbose=True, **FAST
    ).fit(df, **roles)
    err = capsys.readouterr().err
    assert "stopped early" in err and "val=" in err and "no_change=1/1" in err


def test_training_never_pads_short_stays_to_a_long_one(monkeypatch):
    # Setup: 20 stays of 3 steps and one of 200; the training and validation batches seen.
    lengths = np.r_[np.full(20, 3), 200]
    cohort = replace(make_cohort(n=21, length=200), lengths=lengths)
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    tensors = CohortTensors.from_cohort(cohort, layout)
    seen = []
    original = training.diffusion_loss

    def recording(denoiser, schedule, batch, generator, **options):
        seen.append((len(batch), batch.valid.shape[1], int(batch.valid.sum())))
        return original(denoiser, schedule, batch, generator, **options)

    monkeypatch.setattr(training, "diffusion_loss", recording)
    # Run
    validation = tensors.index(torch.arange(15, 21))
    train(make_denoiser(layout, tensors), FactorizedSchedule(layout), tensors,
          TrainingConfig(epochs=2, batch_size=32), generator=torch.Generator().manual_seed(0),
          validation=validation)
    # Assert: the long stay alone in its group; no group pads more than twice the rows.
    assert seen and {(n, steps) for n, steps, _ in seen} == {(20, 3), (1, 200), (5, 3)}
    assert all(n * steps <= 2 * 220 for n, steps, _ in seen)
