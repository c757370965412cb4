"""The two-stage model: a profile drawn per patient first, then the stay given it."""

import numpy as np
import pandas as pd
import pytest
from helpers.frames import TINY

from cdmtehr import CDMTSynthesizer
from cdmtehr.exceptions import PrivacyWarning

ROLES = {"id_col": "pid", "time_col": "t", "num_cols": ["lab", "hr"], "static_cols": ["sex"]}


def charted_or_not(n_patients=60, seed=0, lengths=(4, 11)):
    """Stays of `lengths` hours (low inclusive, high exclusive); half the patients have "lab"
    at every hour, half never."""
    rng = np.random.default_rng(seed)
    rows = []
    for pid in range(n_patients):
        length = int(rng.integers(*lengths))
        charted = pid % 2 == 0
        for t in range(length):
            rows.append({"pid": pid, "t": t, "lab": rng.normal(5, 1) if charted else np.nan,
                         "hr": rng.normal(80, 10), "sex": "F" if pid % 3 else "M"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def two_stage():
    df = charted_or_not()
    return df, CDMTSynthesizer(**{**TINY, "epochs": 3}).fit(df, **ROLES)


def test_every_stay_has_a_training_length(two_stage):
    df, synth = two_stage
    lengths = synth.sample(80, steps=4, random_state=0).groupby("pid").size()
    assert set(lengths) <= set(df.groupby("pid").size()) and lengths.nunique() > 1


def test_a_schedule_decided_per_patient_is_kept_whole():
    # "lab" is charted at every hour or never, in every training stay: the profile draws the
    # whole schedule, and decoding keeps its count exactly.
    df = charted_or_not(lengths=(6, 7))
    synth = CDMTSynthesizer(**{**TINY, "epochs": 3}).fit(df, **ROLES)
    out = synth.sample(80, steps=4, random_state=0)
    share = out["lab"].notna().groupby(out["pid"]).mean()
    assert set(share) <= {0.0, 1.0} and share.nunique() == 2


def test_the_same_seed_draws_the_same_patients(two_stage):
    _, synth = two_stage
    pd.testing.assert_frame_equal(synth.sample(10, steps=3, random_state=4),
                                  synth.sample(10, steps=3, random_state=4))


def test_the_single_stage_model_has_no_profile():
    df = charted_or_not(20)
    synth = CDMTSynthesizer(**TINY, profile=False).fit(df, **ROLES)
    assert synth.profile_model_ is None and not synth.model_.config.profile
    assert len(synth.sample(3, steps=2, random_state=0)) > 0


def test_differential_privacy_with_the_defaults_trains_the_single_stage_model_and_says_so():
    pytest.importorskip("opacus")
    with pytest.warns(PrivacyWarning) as caught:
        synth = CDMTSynthesizer(**TINY, dp_epsilon=1.0).fit(charted_or_not(10), **ROLES)
    said = [w for w in caught if "trains the single-stage model" in str(w.message)]
    assert len(said) == 1 and "profile trees" in str(said[0].message)
    assert synth.profile is True  # the parameter as given; the fitted model says what ran
    assert synth.profile_model_ is None and not synth.model_.config.profile
    assert synth.dp_epsilon_spent_ is not None and synth.dp_epsilon_spent_ <= 1.0
    assert len(synth.sample(3, steps=2, random_state=0)) > 0


def test_completion_samples_without_a_drawn_profile(two_stage):
    df, synth = two_stage
    prefix = df[df["t"] < 3]
    out = synth.forecast(prefix, horizon=2, random_state=0)
    first = out[out["t"] < 3].reset_index(drop=True)
    pd.testing.assert_frame_equal(first[["pid", "t", "hr"]],
                                  prefix[["pid", "t", "hr"]].reset_index(drop=True),
                                  check_dtype=False)


def test_each_class_draws_the_profiles_of_its_own_patients():
    # Patients of class "yes" always have "lab", those of class "no" never: profiles drawn per
    # class keep that exactly, whatever the other columns.
    df = charted_or_not(lengths=(6, 7))
    df["y"] = np.where(df["pid"] % 2 == 0, "yes", "no")
    synth = CDMTSynthesizer(**{**TINY, "epochs": 2}).fit(df, **ROLES, condition_col="y")
    out = synth.sample(40, condition={"yes": 20, "no": 20}, steps=3, random_state=0)
    charted = out["lab"].notna().groupby(out["pid"]).mean()
    label = out.groupby("pid")["y"].first()
    assert (charted[label == "yes"] == 1.0).all() and (charted[label == "no"] == 0.0).all()
