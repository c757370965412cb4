"""A refit that is interrupted (Ctrl-C) or fails in training keeps the fitted model."""

import pytest
from helpers.frames import ROLES, TINY, cohort

from cdmtehr import CDMTSynthesizer
from cdmtehr import _fitting


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_an_interrupted_refit_keeps_the_previous_model(error, monkeypatch):
    df = cohort(n_patients=4, length=3)
    synth = CDMTSynthesizer(**TINY).fit(df, **ROLES)
    model, seconds = synth.model_, synth.fit_seconds_

    def interrupted(*args, **kwargs):
        raise error()

    monkeypatch.setattr(_fitting, "fit_diffusion", interrupted)
    with pytest.raises(error):
        synth.fit(df, **ROLES)
    assert synth.model_ is model and synth.fit_seconds_ == seconds
    assert len(synth.sample(2, random_state=0)) > 0
