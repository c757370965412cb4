"""Differentially private fits: clear errors before any work, the spent epsilon, what it covers."""

import importlib.util
import sys
import warnings

import pytest
from helpers.frames import ROLES, TINY, cohort

from cdmtehr import CDMTSynthesizer
from cdmtehr.exceptions import InvalidParameterError, PrivacyWarning


@pytest.mark.parametrize(
    "params, message",
    [
        ({"dp_epsilon": 0.0}, "'dp_epsilon' parameter .* range \\(0, inf\\)"),
        ({"dp_epsilon": -1.0}, "'dp_epsilon' parameter"),
        ({"dp_epsilon": 1.0, "dp_delta": 1.0}, "'dp_delta' parameter .* range \\(0, 1\\)"),
        ({"dp_delta": 1e-5}, "dp_delta=1e-05 without dp_epsilon"),
        ({"dp_epsilon": 1.0, "dp_max_grad_norm": None}, "'dp_max_grad_norm' parameter .* "
         "must be a float in the range \\(0, inf\\). Got None"),
        ({"dp_epsilon": 1.0, "early_stopping": True}, "early_stopping=True: early stopping"),
    ],
)
def test_privacy_options_it_cannot_honour_fail_before_any_work(params, message):
    with pytest.raises(InvalidParameterError, match=message):
        CDMTSynthesizer(**TINY, **params).fit(None, **ROLES)  # fails before reading data


def test_privacy_refuses_a_checkpoint_before_any_work():
    with pytest.raises(InvalidParameterError, match="and checkpoint_path: the noise is sized"):
        CDMTSynthesizer(**TINY, dp_epsilon=1.0).fit(None, **ROLES, checkpoint_path="x.ckpt")


def test_without_opacus_the_error_says_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "opacus", None)
    with pytest.raises(ImportError, match=r'pip install "cdmtehr\[privacy\]"'):
        CDMTSynthesizer(**TINY, dp_epsilon=1.0, profile=False).fit(None, **ROLES)


needs_opacus = pytest.mark.skipif(
    importlib.util.find_spec("opacus") is None, reason="needs the privacy extra (opacus)"
)


@needs_opacus
def test_a_private_fit_spends_at_most_epsilon_and_says_what_it_covers(tmp_path):
    df = cohort(20, 3)
    synth = CDMTSynthesizer(**{**TINY, "epochs": 2}, dp_epsilon=2.0, profile=False)
    with pytest.warns(PrivacyWarning, match="not the preprocessor"):
        synth.fit(df, **ROLES)
    assert 0 < synth.dp_epsilon_spent_ <= 2.0
    assert synth.privacy_["delta"] == pytest.approx(1 / (10 * 20))
    assert synth.privacy_["covers"] == "weights"
    assert "epsilon" in synth.get_loss_values().columns
    synth.save(tmp_path / "model.cdmt")
    loaded = CDMTSynthesizer.load(tmp_path / "model.cdmt")
    assert loaded.privacy_ == synth.privacy_ and loaded.dp_epsilon_spent_ == synth.dp_epsilon_spent_
    assert len(loaded.sample(3, random_state=0)) > 0


@needs_opacus
def test_public_data_makes_the_guarantee_cover_the_whole_model():
    df = cohort(20, 3)
    df.loc[::4, "x"] = float("nan")  # missing values the public rows never show
    public = cohort(6, 3).assign(pid=lambda f: f["pid"] + 100)
    synth = CDMTSynthesizer(**TINY, dp_epsilon=2.0, profile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyWarning)
        synth.fit(df, **ROLES, public_data=public)
    assert synth.privacy_["covers"] == "model"
    assert synth.preprocessor_.n_patients_ == 6  # its statistics come from the public rows
    assert synth.layout_.masked_values == (0,)  # every value has a mask, whatever the data
    assert synth.layout_.has_validity


def test_a_non_private_fit_has_no_privacy_record():
    synth = CDMTSynthesizer(**TINY).fit(cohort(), **ROLES)
    assert synth.dp_epsilon_spent_ is None and synth.privacy_ is None


@needs_opacus
def test_a_delta_not_below_one_over_n_is_warned_about():
    with pytest.warns(PrivacyWarning) as caught:
        CDMTSynthesizer(**TINY, dp_epsilon=2.0, dp_delta=0.5, profile=False).fit(cohort(), **ROLES)
    assert any("not below 1 / n_patients" in str(w.message) for w in caught)
