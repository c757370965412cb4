"""The estimator's parameters as training reads them."""

import pytest

from cdmtehr import CDMTSynthesizer
from cdmtehr._parameters import is_two_stage, numeric_weighting, training_settings


def params(**changes):
    return {**CDMTSynthesizer().get_params(), **changes}


def test_the_default_is_two_stage_and_private_fits_are_not():
    assert is_two_stage(params())
    assert not is_two_stage(params(profile=False))
    assert not is_two_stage(params(dp_epsilon=3.0))


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({}, "edm"),  # the two-stage default
        ({"profile": False}, "uniform"),  # the paper's single-stage model
        ({"dp_epsilon": 3.0}, "uniform"),  # a private fit is single-stage
        ({"loss_weighting": "uniform"}, "uniform"),
        ({"profile": False, "loss_weighting": "edm"}, "edm"),
    ],
)
def test_auto_loss_weighting_follows_the_stages(changes, expected):
    assert numeric_weighting(params(**changes)) == expected
    config, _ = training_settings(params(**changes), n_patients=100)
    assert config.numeric_weighting == expected


def test_an_unknown_loss_weighting_is_refused_before_training(tiny_conditional):
    df, roles = tiny_conditional
    with pytest.raises(ValueError, match="loss_weighting"):
        CDMTSynthesizer(loss_weighting="sigma", epochs=1).fit(df, **roles)
