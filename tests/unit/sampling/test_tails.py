"""Tail calibration: generated scores mapped onto the normal tails, bulk untouched."""

import inspect
import pickle

import numpy as np
import pandas as pd
import pytest
from helpers.frames import TINY
from scipy.special import ndtr, ndtri

from cdmtehr import CDMTSynthesizer
from cdmtehr.completion import sample_chunks
from cdmtehr.disclosure import MIN_PATIENTS
from cdmtehr.preprocessing import EncodedCohort
from cdmtehr.sampling import tails
from cdmtehr.sampling.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS
from cdmtehr.sampling.tails import (
    MIN_SCORES,
    TAIL_JOIN,
    TAIL_LEVEL,
    TAIL_MIN_COUNT,
    TAIL_STEP,
    apply_tail_map,
    calibrate_tails,
    fit_tail_calibration,
    is_tail_calibration,
    tail_map,
)


def _heavy(n, seed):
    """Scores with the tails of a Student t of 3 degrees of freedom, scaled to unit spread
    in the bulk: far more beyond 3 than a normal has."""
    return np.random.default_rng(seed).standard_t(3, n) * 0.75


def test_heavy_tails_are_mapped_onto_the_normal_tails():
    points = tail_map(_heavy(100_000, 0))
    z = _heavy(200_000, 1)

    calibrated = apply_tail_map(points, z)

    for cut in (2.5, 3.0):  # within the levels read (down to 20 draws of 100,000)
        normal_share = 2 * ndtr(-cut)
        assert np.mean(np.abs(z) > cut) > 3 * normal_share  # heavy before
        assert np.mean(np.abs(calibrated) > cut) == pytest.approx(normal_share, rel=0.3)
    # further out the map is shifted, not narrowed beyond what was measured
    assert np.mean(np.abs(calibrated) > 4) < np.mean(np.abs(z) > 4) / 3


def test_an_exponential_tail_is_mapped_onto_the_normal_one_beyond_the_levels_read():
    # Laplace scores: an exponential tail, read down to 0.02 % of 100,000 draws; the share
    # beyond 4.5 (3.4e-6 of a normal) lies far beyond, where the map extrapolates
    rng = np.random.default_rng(9)
    points = tail_map(rng.laplace(0, 0.7, 100_000))
    z = rng.laplace(0, 0.7, 4_000_000)

    calibrated = apply_tail_map(points, z)

    for cut in (4.0, 4.5):
        normal_share = 2 * ndtr(-cut)
        assert np.mean(np.abs(z) > cut) > 20 * normal_share
        assert np.mean(np.abs(calibrated) > cut) == pytest.approx(normal_share, rel=0.6)


def test_a_deepest_tail_thin_by_chance_does_not_leave_the_far_tail_heavy():
    # Laplace scores whose 31 beyond the deepest level read (0.03 %) lie three times too close
    # to it, as a few patients can leave them: the tail beyond is extrapolated with the
    # steadier mean excess beyond the level two before, not with that one (5 and 27 times
    # the normal share beyond 4 and 4.5)
    rng = np.random.default_rng(13)
    scores = rng.laplace(0, 0.7, 100_000)
    low, high = np.quantile(scores, [0.0003125, 1 - 0.0003125], method="inverted_cdf")
    scores = np.where(scores > high, high + (scores - high) * 0.3, scores)
    scores = np.where(scores < low, low + (scores - low) * 0.3, scores)
    z = rng.laplace(0, 0.7, 4_000_000)

    calibrated = apply_tail_map(tail_map(scores), z)

    for cut in (4.0, 4.5):
        assert np.mean(np.abs(calibrated) > cut) < 2.5 * 2 * ndtr(-cut)


@pytest.mark.parametrize("spread", [1.1, 1.3])
def test_a_bulk_too_wide_at_the_join_leaves_no_excess_in_the_far_tail(spread):
    # normal scores too wide everywhere: their 95 % quantile lies 1.645 (spread - 1) beyond
    # the normal one. The levels read go to the normal quantiles themselves, not shifted out
    # by that excess, which left exp(excess z) times the normal share beyond z (1.7 and 4.5
    # times at 3)
    rng = np.random.default_rng(11)
    points = tail_map(rng.normal(0, spread, 200_000))
    z = rng.normal(0, spread, 2_000_000)

    calibrated = apply_tail_map(points, z)

    for cut in (3.0, 3.5):
        normal_share = 2 * ndtr(-cut)
        assert np.mean(np.abs(calibrated) > cut) == pytest.approx(normal_share, rel=0.2)


def test_a_bulk_far_too_wide_still_gets_an_increasing_map():
    # the 95 % quantile beyond the normal 99.9 % one: the excess at the join shrinks outwards,
    # by half the distance between normal quantiles, so the points still increase, and it is
    # gone where the exponential tail ends (32 mean excesses beyond the deepest level)
    points = tail_map(np.random.default_rng(12).normal(0, 2.0, 100_000))
    deepest = TAIL_LEVEL * TAIL_STEP ** np.floor(np.log(TAIL_MIN_COUNT / 100_000 / TAIL_LEVEL)
                                                 / np.log(TAIL_STEP))

    assert is_tail_calibration({"numeric": [points], "static_numeric": []})
    assert points[1, -1] == pytest.approx(-ndtri(deepest * np.exp(-32)))
    assert points[1, 0] == pytest.approx(ndtri(deepest * np.exp(-32)))


def test_the_bulk_is_untouched_and_the_map_is_increasing():
    scores = _heavy(50_000, 2)
    points = tail_map(scores)
    low, high = np.quantile(scores, [TAIL_JOIN, 1 - TAIL_JOIN])
    z = np.linspace(-30, 30, 100_001)

    calibrated = apply_tail_map(points, z)

    inside = (z >= low) & (z <= high)
    assert np.array_equal(calibrated[inside], z[inside])
    assert np.all(np.diff(calibrated) > 0)
    # beyond the measured points no tail is widened: slope at most 1
    assert np.all(np.diff(calibrated) <= np.diff(z) * (1 + 1e-9))


def test_too_few_scores_and_none_leave_scores_as_they_are():
    assert tail_map(_heavy(MIN_SCORES - 1, 3)) is None
    z = np.array([-9.0, np.nan, 0.0, 9.0])
    assert np.array_equal(apply_tail_map(None, z), z, equal_nan=True)
    points = tail_map(_heavy(10_000, 4))
    assert np.isnan(apply_tail_map(points, z)[1])


def _chunk(rng, n=400, steps=10, channels=2, statics=1):
    numeric = _heavy(n * steps * channels, 5).reshape(n, steps, channels).astype(np.float32)
    observed = rng.random((n, steps, channels)) < 0.8
    lengths = rng.integers(1, steps + 1, n)
    return {
        "numeric": numeric, "observed": observed, "lengths": lengths,
        "static_numeric": _heavy(n * statics, 6).reshape(n, statics).astype(np.float32),
        "static_observed": np.ones((n, statics), dtype=bool),
        "categorical": np.zeros((n, steps, 0), dtype=np.int64),
    }


def test_calibration_reads_observed_cells_of_valid_steps_only():
    rng = np.random.default_rng(7)
    chunk = _chunk(rng)
    steps = np.arange(chunk["numeric"].shape[1])
    unread = ~chunk["observed"] | (steps[None, :, None] >= chunk["lengths"][:, None, None])
    changed = dict(chunk, numeric=np.where(unread, np.float32(1e6), chunk["numeric"]))

    first = fit_tail_calibration([chunk])
    second = fit_tail_calibration([changed])

    assert len(first["numeric"]) == 2 and len(first["static_numeric"]) == 1
    for a, b in zip(first["numeric"], second["numeric"], strict=True):
        assert np.array_equal(a, b)
    assert first["static_numeric"][0] is None  # 400 static scores: fewer than MIN_SCORES


def test_calibrate_tails_maps_each_channel_and_keeps_the_rest():
    rng = np.random.default_rng(8)
    chunk = _chunk(rng, n=2000)
    calibration = fit_tail_calibration([chunk])

    out = calibrate_tails(calibration, chunk)

    assert calibrate_tails(None, chunk) is chunk
    assert out["numeric"].dtype == np.float32 and out["numeric"].shape == chunk["numeric"].shape
    assert out["categorical"] is chunk["categorical"]
    for k, points in enumerate(calibration["numeric"]):
        expected = apply_tail_map(points, chunk["numeric"][..., k]).astype(np.float32)
        assert np.array_equal(out["numeric"][..., k], expected)
    assert np.abs(out["numeric"]).max() < np.abs(chunk["numeric"]).max()
    assert not np.shares_memory(out["numeric"], chunk["numeric"])


@pytest.fixture(scope="module")
def calibrated_model():
    """A tiny model of 120 patients with a heart rate every hour (enough scores to calibrate)
    and a canary patient whose values no one else has, far beyond the others."""
    rng = np.random.default_rng(0)
    n, hours = 120, 40
    frame = pd.DataFrame({
        "pid": np.repeat(np.arange(n), hours), "t": np.tile(np.arange(hours), n),
        "hr": np.round(rng.normal(80, 10, n * hours), 1),
    })
    canary = pd.DataFrame({"pid": n, "t": np.arange(hours), "hr": 263.37 + 0.11 * np.arange(hours)})
    frame = pd.concat([frame, canary], ignore_index=True)
    synth = CDMTSynthesizer(**{**TINY, "min_patients_per_value": MIN_PATIENTS}).fit(
        frame, id_col="pid", time_col="t", num_cols=["hr"])
    return synth, canary["hr"].to_numpy()


def test_fit_calibrates_from_drawn_patients_and_keeps_no_patients_value(calibrated_model):
    synth, canary = calibrated_model
    calibration = synth.tail_calibration_

    assert is_tail_calibration(calibration) and calibration["numeric"][0] is not None
    stored = np.concatenate([p.ravel() for p in calibration["numeric"] if p is not None])
    encoder = synth.preprocessor_.numeric_encoders_[0]
    for secret in (canary, encoder.transform(canary)):
        assert not np.isclose(stored[:, None], secret[None, :], rtol=1e-6, atol=1e-6).any()


def test_sampling_maps_the_drawn_tails_and_a_saved_model_keeps_the_map(calibrated_model,
                                                                         tmp_path):
    synth, _ = calibrated_model
    raw = pickle.loads(pickle.dumps(synth))
    raw.tail_calibration_ = None
    options = dict(condition=None, steps=5, sampler="euler", guidance_scale=1.0, random_state=3)

    calibrated = EncodedCohort.concat(list(sample_chunks(synth, 30, **options)))
    uncalibrated = EncodedCohort.concat(list(sample_chunks(raw, 30, **options)))
    synth.save(tmp_path / "m.cdmt")
    loaded = CDMTSynthesizer.load(tmp_path / "m.cdmt")

    expected = apply_tail_map(synth.tail_calibration_["numeric"][0], uncalibrated.numeric[..., 0])
    assert np.array_equal(calibrated.numeric[..., 0], expected.astype(np.float32))
    assert np.array_equal(loaded.tail_calibration_["numeric"][0],
                          synth.tail_calibration_["numeric"][0])


def test_a_light_tail_is_left_as_it_is():
    # a generator narrower than the normal one: its scores are never pushed further out
    rng = np.random.default_rng(10)
    points = tail_map(rng.normal(0, 0.6, 50_000))
    z = np.linspace(-6, 6, 10_001)

    assert np.array_equal(apply_tail_map(points, z), z)
    assert is_tail_calibration({"numeric": [points], "static_numeric": []})


def test_calibration_is_drawn_at_the_default_settings_of_sample():
    # The map corrects the tails of what `sample` draws by default; drawn otherwise, it would
    # correct another sampler's tails.
    assert (tails.CALIBRATION_STEPS, tails.CALIBRATION_SAMPLER) == (DEFAULT_STEPS,
                                                                    DEFAULT_SAMPLER)
    defaults = inspect.signature(CDMTSynthesizer.sample_to_parquet).parameters
    assert tails.CALIBRATION_STEPS == defaults["steps"].default
    assert tails.CALIBRATION_SAMPLER == defaults["sampler"].default


@pytest.mark.parametrize("trained, drawn", [(40, 80), (2_999, 5_998), (3_000, 6_000),
                                            (12_000, 6_000)])
def test_fit_draws_twice_its_patients_up_to_the_cap(trained, drawn):
    # A larger draw reads the far tails from more patients: at 3,000 drawn, a few outliers
    # of a column come from a handful of patients and the map lands by chance.
    assert tails.calibration_size(trained) == drawn
