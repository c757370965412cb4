"""Training feedback: the loss of full epochs only, and one word when training was far too short."""

import logging

from cdmtehr.diffusion.training import Progress, TrainingConfig, warn_if_undertrained


def test_the_loss_shown_leaves_out_a_cut_short_last_epoch():
    progress = Progress(TrainingConfig(epochs=10, max_time=None), enabled=False)
    assert progress._running_loss({"steps": 4, "loss": 2.0}) == 2.0
    assert progress._running_loss({"steps": 8, "loss": 1.0}) == 1.5
    # Only one batch of the last epoch ran before the time ran out: its loss is left out.
    assert progress._running_loss({"steps": 9, "loss": 9.0}) == 1.5


def test_a_few_dozen_steps_say_so_once(caplog):
    history = [{"epoch": 3, "steps": 40, "seconds": 60.0}]
    with caplog.at_level(logging.WARNING, logger="cdmtehr.diffusion.training"):
        warn_if_undertrained(history)
    assert len(caplog.records) == 1
    assert "40 optimizer steps" in caplog.text and "max_time" in caplog.text


def test_enough_training_or_early_stopping_says_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger="cdmtehr.diffusion.training"):
        warn_if_undertrained([{"epoch": 90, "steps": 1050, "seconds": 600.0}])
        warn_if_undertrained([{"epoch": 300, "steps": 300, "seconds": 20.0}])
        warn_if_undertrained([{"epoch": 5, "steps": 50, "seconds": 9.0, "stopped_early": True}])
    assert not caplog.records


def test_private_training_shows_the_epsilon_spent(caplog):
    progress = Progress(TrainingConfig(epochs=2, max_time=None), enabled=True)
    progress.bar = None  # the log lines show the same postfix as the bar
    with caplog.at_level(logging.INFO, logger="cdmtehr.diffusion.training"):
        progress.after_epoch({"epoch": 1, "steps": 4, "seconds": 1.0, "loss": 1.0,
                              "epsilon": 0.734})
    assert "epsilon 0.73" in caplog.text
