"""NumericEncoder: heavy-tailed generated scores decode to the training tails, in its range."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdmtehr.preprocessing import NumericEncoder

N_PATIENTS = 2000


def _column_with_rare_extremes(seed=0):
    """A pH-like column: 6 values per patient near 7.4, and a few recording errors (735 for
    7.35) in 0.4 % of patients, shared by enough of them to be knots."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(7.4, 0.06, size=(N_PATIENTS, 6)), 2)
    errors = rng.choice(N_PATIENTS, size=8, replace=False)
    values[errors, 0] = 735.0
    patients = np.repeat(np.arange(N_PATIENTS), 6)
    return pd.Series(values.reshape(-1), name="pH"), patients


def _heavy_scores(size, seed):
    """Scores of a generator that is about right in the bulk but heavy in the tails: 97 %
    standard normal, 3 % with 2.5 times the spread (as a diffusion model's, several times the
    normal share beyond 3)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(size) * np.where(rng.random(size) < 0.03, 2.5, 1.0)


def test_heavy_tailed_scores_decode_to_the_training_share_of_extremes():
    values, patients = _column_with_rare_extremes()
    encoder = NumericEncoder().fit(values, patients)
    real_share = np.mean(values > 8)
    heavy = _heavy_scores(200_000, seed=1)
    before = np.mean(encoder.inverse_transform(heavy) > 8)
    assert before > 5 * real_share  # the far tail of the scores is where the errors decode

    encoder.calibrate_tails(_heavy_scores(200_000, seed=2))  # an independent draw
    after = np.mean(encoder.inverse_transform(heavy) > 8)
    assert real_share / 1.5 <= after <= 1.5 * real_share


def test_far_scores_decode_as_often_to_the_extreme_knot_as_training_values_are_there():
    values, patients = _column_with_rare_extremes()
    encoder = NumericEncoder().fit(values, patients)
    assert encoder.max_ == 735.0  # the errors are an atom: enough patients share them
    real_share = np.mean(values == 735.0)
    heavy = _heavy_scores(200_000, seed=3)
    plain = np.mean(encoder.inverse_transform(heavy) == 735.0)
    encoder.calibrate_tails(_heavy_scores(200_000, seed=4))
    calibrated = np.mean(encoder.inverse_transform(heavy) == 735.0)
    assert plain > 5 * real_share
    assert calibrated <= 1.5 * real_share


@pytest.mark.filterwarnings("ignore::cdmtehr.exceptions.DataWarning")  # tiny spreads: asinh map
@given(
    values=st.lists(st.floats(-1e3, 1e3), min_size=12, max_size=60),
    scores=st.lists(st.floats(-40, 40), min_size=1, max_size=20),
    min_patients=st.integers(2, 5),
)
def test_decoded_values_stay_within_the_training_range(values, scores, min_patients):
    # The ends of the quantile function are continued beyond the most extreme pooled group
    # (no one's value); decoding stops at the outermost knot that is data.
    series = pd.Series(values)
    encoder = NumericEncoder(max_decimals=None, min_patients_per_value=min_patients)
    try:
        encoder.fit(series)
    except ValueError:  # fewer patients than a knot needs
        return
    decoded = encoder.inverse_transform(np.asarray(scores)).to_numpy()
    assert decoded.min() >= series.min() - 1e-9 * abs(series.min())
    assert decoded.max() <= series.max() + 1e-9 * abs(series.max())


def test_a_pooled_end_is_not_decoded_beyond_the_training_range():
    # FiO2: room air (0.21) in only a few patients, so the lowest knot is a pooled mean, and
    # its continuation to level 0 (0.17) lies below every training value.
    rng = np.random.default_rng(0)
    values = np.r_[[0.21, 0.21, 0.24, 0.24, 0.25], rng.choice([0.4, 0.5, 0.6, 1.0], size=400)]
    encoder = NumericEncoder().fit(pd.Series(values))
    assert encoder.min_ < 0.21
    decoded = encoder.inverse_transform(np.linspace(-8, 8, 401))
    assert decoded.min() >= 0.21


def test_calibration_leaves_the_bulk_and_round_trips_alone():
    values, patients = _column_with_rare_extremes()
    encoder = NumericEncoder().fit(values, patients)
    scores = encoder.transform(values)
    bulk = np.linspace(-1.5, 1.5, 101)
    plain = encoder.inverse_transform(bulk)
    encoder.calibrate_tails(_heavy_scores(50_000, seed=4))
    assert encoder.inverse_transform(bulk).equals(plain)
    # Scores inside the generator's central 96 % decode as before.
    inner = scores[np.abs(scores) < 1.5]
    np.testing.assert_array_equal(
        encoder.inverse_transform(inner).to_numpy(),
        values.to_numpy()[np.abs(scores) < 1.5],
    )


def test_too_few_scores_or_a_constant_column_stay_uncalibrated():
    values, patients = _column_with_rare_extremes()
    encoder = NumericEncoder().fit(values, patients)
    encoder.calibrate_tails(_heavy_scores(1999, seed=5))
    assert encoder.tail_from_ is None and encoder.tail_to_ is None
    constant = NumericEncoder(min_patients_per_value=1).fit(pd.Series([3.0] * 10))
    assert constant.calibrate_tails(_heavy_scores(10_000, seed=6)).tail_from_ is None
    # A refit forgets an earlier calibration.
    encoder.calibrate_tails(_heavy_scores(10_000, seed=7))
    assert encoder.tail_from_ is not None
    assert encoder.fit(values, patients).tail_from_ is None


@given(
    df=st.floats(1.5, 50.0),
    scale=st.floats(0.5, 2.0),
    shift=st.floats(-0.5, 0.5),
    seed=st.integers(0, 2**16),
)
def test_calibrated_map_is_monotone_and_the_identity_in_the_bulk(df, scale, shift, seed):
    rng = np.random.default_rng(seed)
    encoder = NumericEncoder(min_patients_per_value=1).fit(pd.Series(rng.normal(size=500)))
    generated = shift + scale * rng.standard_t(df, size=4000)
    encoder.calibrate_tails(generated)
    assert encoder.tail_from_ is not None
    z = np.linspace(-40, 40, 4001)
    mapped = encoder._calibrated(z)
    assert np.all(np.diff(mapped) >= 0)
    inner = (z >= np.quantile(generated, 0.05)) & (z <= np.quantile(generated, 0.95))
    np.testing.assert_allclose(mapped[inner], z[inner], atol=1e-9)
    # Beyond the measured levels no tail is stretched: slopes at most 1 there.
    outer = np.abs(z) > np.abs(encoder.tail_from_).max()
    steps = np.diff(mapped)[outer[1:] & outer[:-1]]
    assert np.all(steps <= np.diff(z)[0] * (1 + 1e-9))
    # Quantile matching: the share of the draws mapped beyond each calibration point is the
    # share of the draws beyond its generated score.
    calibrated = encoder._calibrated(generated)
    for x, y in zip(encoder.tail_from_, encoder.tail_to_, strict=True):
        assert np.mean(calibrated < y) == np.mean(generated < x)
