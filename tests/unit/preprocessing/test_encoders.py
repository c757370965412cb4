"""NumericEncoder and CategoricalEncoder: fit / transform / inverse_transform on one column."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.preprocessing import QuantileTransformer

from cdmtehr.disclosure import MIN_PATIENTS
from cdmtehr.exceptions import DataWarning
from cdmtehr.preprocessing import CategoricalEncoder, NumericEncoder


def _roundtrip(encoder, series, cast=None):
    scores = encoder.fit(series).transform(series)
    if cast is not None:
        scores = scores.astype(cast)
    return scores, encoder.inverse_transform(scores)


# -- NumericEncoder ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, decimals",
    [
        ([80.6, 81.2, np.nan, 95.0], 1),  # weight in tenths of a kg
        ([7.45, 7.4, 7.31], 2),  # pH in hundredths
        ([60.0, 72.0, 118.0], 0),  # heart rate in whole beats
        ([0.1 + 0.2, 0.5], 1),  # float round-off does not count as a decimal
        ([1.23456789, 2.0], None),  # finer than max_decimals: never rounded
        ([1e-12, 2e-12, 3.5e-12], None),  # tiny values are not "0 to round-off"
        ([500.8515625] * 4, None),  # a seventh decimal is not round-off, even on a large value
        ([1e6 + 0.1234567, 2e6], None),
    ],
)
def test_numeric_encoder_learns_the_recorded_precision(values, decimals):
    series = pd.Series(values)
    encoder = NumericEncoder(min_patients_per_value=1).fit(series)
    assert encoder.decimals_ == decimals
    # Generated scores fall between the knots; the decoded values keep the recorded precision.
    decoded = encoder.inverse_transform(encoder.transform(series) + 0.013).dropna().to_numpy()
    if decimals is None:
        assert not np.array_equal(decoded, np.round(decoded, 6))
    else:  # to round-off: an observed bound such as 0.1 + 0.2 comes back as it was
        np.testing.assert_array_max_ulp(decoded, np.round(decoded, decimals), maxulp=16)


def test_numeric_encoder_rounding_can_be_switched_off():
    # Pairs of patients pool into means, between which decoding interpolates.
    series = pd.Series([80.6, 81.2, 95.0, 70.1, 66.3, 91.4, 88.8, 74.5])
    encoder = NumericEncoder(max_decimals=None, min_patients_per_value=2).fit(series)
    assert encoder.decimals_ is None
    decoded = encoder.inverse_transform(encoder.transform(series) + 0.013)
    assert not np.array_equal(decoded, np.round(decoded, 1))


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1.5, np.nan, -2.25, 1e3, 7.0], dtype="float64"),
        pd.Series([1.5, np.nan, -2.25, 1e3, 7.0], dtype="float32"),
        pd.Series([3, 15, 9, 9, 3], dtype="int64"),
        pd.Series([3, 15, 9, 9, 3], dtype="int16"),
        pd.Series(pd.array([3, None, 9, 9, 3], dtype="Int64")),
        pd.Series(pd.array([0.5, None, 9.0], dtype="Float64")),
        pd.Series([True, False, True], dtype=bool),
    ],
    ids=lambda s: str(s.dtype),
)
def test_numeric_encoder_roundtrip_restores_dtype(series):
    encoder = NumericEncoder(min_patients_per_value=1)
    scores, restored = _roundtrip(encoder, series.rename("x"), cast=np.float32)

    assert scores.dtype == np.float32
    assert restored.dtype == series.dtype
    assert restored.name == "x"
    pd.testing.assert_series_equal(restored, series.rename("x"))


def test_numeric_encoder_keeps_nan_and_gives_normal_scores():
    rng = np.random.default_rng(0)
    values = rng.lognormal(size=5000)
    values[::7] = np.nan

    scores = NumericEncoder().fit(values).transform(values)

    np.testing.assert_array_equal(np.isnan(scores), np.isnan(values))
    observed = scores[~np.isnan(scores)]
    assert abs(observed.mean()) < 0.05
    assert abs(observed.std() - 1) < 0.05


def test_numeric_encoder_is_monotone():
    values = np.random.default_rng(1).normal(size=300) ** 3
    scores = NumericEncoder().fit(values).transform(values)
    order = np.argsort(values)
    assert np.all(np.diff(scores[order]) >= 0)


def test_numeric_encoder_constant_column():
    encoder = NumericEncoder(min_patients_per_value=1).fit(pd.Series([4.2, np.nan, 4.2]))

    np.testing.assert_array_equal(encoder.transform([4.2, np.nan]), [0.0, np.nan])
    restored = encoder.inverse_transform([-3.0, 0.0, 5.0, np.nan])
    np.testing.assert_array_equal(restored, [4.2, 4.2, 4.2, np.nan])


def test_numeric_encoder_never_observed_column():
    encoder = NumericEncoder().fit(pd.Series([np.nan, np.nan]))
    assert np.isnan(encoder.transform([np.nan])).all()
    assert encoder.inverse_transform([0.0, 1.0]).isna().all()


@pytest.mark.parametrize(
    "values",
    [
        np.array([1e-12, 3e-12, 2e-12, 5e-12, 4e-12]),
        np.array([1e12, 3e12, 2e12, 5e12, 4e12]),
        np.array([1e-12, 1.0, 1e12, 5e-12, 7e11, -3e-12]),
        np.geomspace(1e-12, 1e12, 2000),
        np.array([0.0, 5e-324, 1e-323]),  # subnormal range (found by fuzzing): once all NaN
        np.array([-1e308, 0.0, 1e308]),  # range wider than the largest float
    ],
    ids=["tiny", "huge", "mixed", "geomspace", "subnormal", "overflowing"],
)
def test_numeric_encoder_extreme_magnitudes(values):
    encoder = NumericEncoder(min_patients_per_value=1).fit(values)
    scores = encoder.transform(values)

    assert np.isfinite(scores).all()
    assert len(np.unique(scores)) == len(np.unique(values))  # nothing merged
    restored = encoder.inverse_transform(scores.astype(np.float32)).to_numpy()
    assert np.isfinite(restored).all()
    spread = values.max() - values.min()
    # Values beyond the outer knots (pooled in pairs when there are more than n_quantiles
    # distinct values) come back as those knots: the outermost pooled means, not the ends the
    # quantile function is continued to.
    expected = np.clip(values, *encoder._data_range())
    np.testing.assert_allclose(restored, expected, rtol=1e-6, atol=1e-12 * spread)


def test_numeric_encoder_inverse_clips_and_rounds_model_output():
    values = pd.Series([3, 8, 15, 15, 12], dtype="int64")
    encoder = NumericEncoder(min_patients_per_value=1).fit(values)

    restored = encoder.inverse_transform([-40.0, -1.3, 0.2, 0.77, 40.0])

    assert restored.dtype == np.int64
    assert restored.min() >= 3 and restored.max() <= 15
    assert restored.iloc[0] == 3 and restored.iloc[-1] == 15


def test_numeric_encoder_exact_for_few_distinct_values_in_large_column():
    rng = np.random.default_rng(2)
    values = rng.choice(np.round(rng.normal(size=900), 3), size=50_000)

    scores, restored = _roundtrip(NumericEncoder(), pd.Series(values), cast=np.float32)

    np.testing.assert_array_equal(restored.to_numpy(), values)


def test_numeric_encoder_subsample_follows_the_distribution_without_its_extremes():
    values = np.random.default_rng(3).normal(size=20_000)
    encoder = NumericEncoder(subsample=1000).fit(values)

    restored = encoder.inverse_transform(encoder.transform(values)).to_numpy()

    # The range is the outer knots (means of 5 values), not the single extreme values, nor
    # the ends the quantile function is continued to beyond them.
    low, high = encoder._data_range()
    assert values.min() < encoder.min_ < low == restored.min()
    assert restored.max() == high < encoder.max_ < values.max()
    inside = (values >= low) & (values <= high)
    assert inside.mean() > 0.99
    np.testing.assert_allclose(restored[inside], values[inside], atol=0.05)


def test_numeric_encoder_nan_score_for_int_dtype_is_an_error():
    encoder = NumericEncoder(min_patients_per_value=1).fit(pd.Series([1, 2, 3], name="gcs"))
    with pytest.raises(ValueError, match="'gcs'"):
        encoder.inverse_transform([np.nan])


# -- CategoricalEncoder --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "series",
    [
        pd.Series(pd.Categorical(["b", None, "a", "b"], categories=["c", "b", "a", "z"])),
        pd.Series(pd.Categorical(["b", "a"], categories=["a", "b"], ordered=True)),
        pd.Series(["b", None, "a", "b"], dtype=object),
        pd.Series(["b", np.nan, "a", "b"], dtype=object),
        pd.Series(["b", None, "a", "b"], dtype="str"),
        pd.Series(["b", None, "a", "b"], dtype="string"),
        pd.Series([True, False, True], dtype=bool),
        pd.Series([True, None, True], dtype="boolean"),
        pd.Series([3, 1, 3, 7], dtype="int64"),
        pd.Series([3.0, np.nan, 1.5], dtype="float64"),
        pd.Series([1, "a", None, 1], dtype=object),
    ],
    ids=lambda s: str(s.dtype),
)
def test_categorical_encoder_roundtrip_restores_dtype(series):
    series = series.rename("x")
    codes, restored = _roundtrip(CategoricalEncoder(), series)

    assert codes.dtype == np.int64
    pd.testing.assert_series_equal(restored, series)
    if isinstance(series.dtype, pd.CategoricalDtype):
        assert list(restored.cat.categories) == list(series.cat.categories)


def test_categorical_encoder_vocabulary():
    series = pd.Series(pd.Categorical(["b", None, "a"], categories=["c", "b", "a"]))
    encoder = CategoricalEncoder().fit(series)

    assert list(encoder.levels_) == ["b", "a"]  # observed, in category order
    assert encoder.has_missing_ and encoder.n_levels_ == 3
    np.testing.assert_array_equal(encoder.transform(series), [0, 2, 1])

    strings = CategoricalEncoder().fit(pd.Series(["z", "a", "m", "a"]))
    assert list(strings.levels_) == ["a", "m", "z"] and not strings.has_missing_


def test_categorical_encoder_unseen_level_is_an_error():
    encoder = CategoricalEncoder().fit(pd.Series(["a", "b"], name="unit"))
    with pytest.raises(ValueError, match="'unit' has levels never seen in fit: \\['c'\\]"):
        encoder.transform(pd.Series(["a", "c"]))
    with pytest.raises(ValueError, match="'unit' has missing values"):
        encoder.transform(pd.Series(["a", None]))


def test_categorical_encoder_rejects_out_of_range_codes():
    encoder = CategoricalEncoder().fit(pd.Series(["a", "b"], name="unit"))
    with pytest.raises(ValueError, match="'unit' has 2 levels"):
        encoder.inverse_transform([0, 2])


def test_categorical_encoder_all_missing_column():
    series = pd.Series([None, None], dtype=object)
    codes, restored = _roundtrip(CategoricalEncoder(), series)
    np.testing.assert_array_equal(codes, [0, 0])
    assert restored.isna().all()


def test_numeric_encoder_handles_a_range_wider_than_the_largest_float():
    # Non-regression: max - min overflowed to inf and every value decoded to NaN.
    from cdmtehr.preprocessing import NumericEncoder

    values = pd.Series([-1e308, -1.0, 0.0, 2.5, 1e308])
    encoder = NumericEncoder(min_patients_per_value=1).fit(values)

    back = encoder.inverse_transform(encoder.transform(values))

    assert np.isfinite(back).all()
    assert back.iloc[0] == -1e308 and back.iloc[-1] == 1e308


# -- NumericEncoder keeps no single patient's value ----------------------------------------------
def _stored_numbers(obj, seen=None):
    """Every number held by a fitted object's attributes, nested estimators included."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (bool, np.bool_)):
        return []
    if isinstance(obj, (int, float, np.number)):
        return [float(obj)]
    if isinstance(obj, np.ndarray):
        return obj.astype(np.float64).ravel().tolist() if obj.dtype.kind in "biuf" else []
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _stored_numbers(v, seen)]
    if isinstance(obj, (list, tuple)):
        return [x for v in obj for x in _stored_numbers(v, seen)]
    if hasattr(obj, "__dict__"):
        return _stored_numbers(vars(obj), seen)
    return []


def _cohort(seed=0, n_patients=60, per_patient=4):
    """Heart rates in tenths of a beat, several per patient."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(80, 8, n_patients * per_patient), 1)
    return values, np.repeat(np.arange(n_patients), per_patient)


def test_numeric_encoder_keeps_no_value_of_a_single_patient():
    values, patients = _cohort()
    # A canary patient with values no one else has: far beyond the others, and one inside
    # their range at an odd precision.
    canary = np.array([250.0, 251.5, 83.0417, 2.0])
    assert not np.isin(canary, values).any()
    values, patients = np.r_[values, canary], np.r_[patients, [999] * canary.size]

    encoder = NumericEncoder().fit(pd.Series(values, name="hr"), patients)

    stored = np.array(_stored_numbers(encoder))
    assert any(isinstance(v, QuantileTransformer) for v in vars(encoder).values())
    for raw in (canary, encoder._to_span(canary)):
        near = np.isclose(stored[:, None], raw[None, :], rtol=1e-6, atol=1e-6)
        assert not near.any(), stored[near.any(axis=1)]
    for end in (encoder.min_, encoder.max_):  # the range ends are shared values or means
        holders = np.unique(patients[values == end])
        assert holders.size == 0 or holders.size >= MIN_PATIENTS
    assert values.min() < encoder.min_ and encoder.max_ < values.max()


def test_numeric_encoder_transform_reads_only_the_knots():
    values, patients = _cohort(seed=1)
    encoder = NumericEncoder().fit(values, patients)
    qt = encoder.quantile_transformer_

    # The smoothed quantile function's points: a shared value twice, at the edges of its share.
    np.testing.assert_array_equal(np.unique(qt.quantiles_[:, 0]),
                                  encoder._to_span(encoder.knot_values_))
    assert qt.n_quantiles_ == len(qt.quantiles_) == len(qt.references_)
    assert qt.references_[0] == 0.0 and qt.references_[-1] == 1.0
    assert np.all(np.diff(qt.references_) >= 0) and np.all(np.diff(qt.quantiles_[:, 0]) >= 0)
    assert encoder.min_ == encoder.knot_values_[0] and encoder.max_ == encoder.knot_values_[-1]
    scores = encoder.transform(values)
    assert np.all(np.diff(scores[np.argsort(values)]) >= 0)
    assert abs(np.median(scores)) < 0.1


def test_numeric_encoder_round_trips_values_that_enough_patients_share():
    rng = np.random.default_rng(4)
    shared = np.array([7.21, 7.3, 7.38, 7.44])
    values = np.r_[rng.choice(shared, size=200), shared]
    patients = np.r_[rng.integers(0, 40, size=200), [50, 51, 52, 53]]

    encoder = NumericEncoder().fit(pd.Series(values, name="ph"), patients)
    restored = encoder.inverse_transform(encoder.transform(values).astype(np.float32))

    np.testing.assert_array_equal(encoder.knot_values_, shared)
    np.testing.assert_array_equal(restored, values)

    # A value of one patient, beyond the shared ones, goes with the nearest of them.
    values, patients = np.r_[values, [7.55, 7.55]], np.r_[patients, [60, 60]]
    encoder = NumericEncoder().fit(pd.Series(values, name="ph"), patients)
    np.testing.assert_array_equal(encoder.knot_values_, shared)
    assert encoder.max_ == 7.44
    assert encoder.inverse_transform(encoder.transform([7.55])).iloc[0] == 7.44


@pytest.mark.parametrize("low", [3.0, 0.0])  # a GCS of 3, an hour without urine
def test_numeric_encoder_scores_a_shared_lowest_value_at_the_middle_of_its_share(low):
    # A tenth of the values at each end, and as many patients behind each value as values.
    rng = np.random.default_rng(5)
    values = np.r_[np.full(100, low), rng.uniform(low + 1, low + 11, 800), np.full(100, low + 12)]
    encoder = NumericEncoder().fit(values)

    scores = encoder.transform([low, low + 12])
    expected = norm.ppf(0.05)  # the middle of a share of 0.1
    np.testing.assert_allclose(scores, [expected, -expected], atol=0.01)
    np.testing.assert_allclose(encoder.knot_scores_[[0, -1]], scores)
    # The two ends are alike: the lowest is not sent to the transform's bound (-5.2).
    assert encoder.transform([low - 1])[0] < -5  # below every value seen in fit
    np.testing.assert_array_equal(encoder.inverse_transform(scores), [low, low + 12])
    # Pooled ends of a spread column are single points at levels 0 and 1: both keep the bound.
    spread = NumericEncoder().fit(rng.normal(size=500))
    np.testing.assert_allclose(spread.knot_scores_[[0, -1]], [-5.2, 5.2], atol=0.01)
    # Every value a knot of its own: the ends are scored like the values between them.
    every = NumericEncoder(min_patients_per_value=1).fit(rng.normal(size=500))
    np.testing.assert_allclose(every.knot_scores_[[0, -1]], norm.ppf([0.001, 0.999]))


def test_numeric_encoder_with_one_patient_per_value_round_trips_every_value():
    values = pd.Series([3.7, 12.25, 3.7, -8.0, 101.5, 12.25], name="x")
    encoder = NumericEncoder(min_patients_per_value=1)

    scores, restored = _roundtrip(encoder, values, cast=np.float32)

    pd.testing.assert_series_equal(restored, values)
    np.testing.assert_array_equal(encoder.knot_values_, [-8.0, 3.7, 12.25, 101.5])


def test_numeric_encoder_counts_patients_not_values():
    # One patient has 30 values of 140.0; with the patient ids it is no knot.
    values = np.r_[np.full(30, 140.0), np.arange(1.0, 41.0)]
    patients = np.r_[np.zeros(30, int), np.arange(1, 41)]

    assert 140.0 in NumericEncoder().fit(values).knot_values_  # 30 values, 30 "patients"
    encoder = NumericEncoder().fit(values, patients)
    assert 140.0 not in encoder.knot_values_ and encoder.max_ < 140.0


def test_numeric_encoder_measured_in_too_few_patients_is_an_error():
    values = pd.Series([210.0, 185.0, np.nan, 240.0, 199.0], name="Cholesterol")
    with pytest.raises(ValueError, match="Column 'Cholesterol' is measured in only 3 patient"):
        NumericEncoder().fit(values, patients=[1, 2, 3, 3, 1])
    encoder = NumericEncoder(min_patients_per_value=3).fit(values, patients=[1, 2, 3, 3, 1])
    assert encoder.quantile_transformer_ is None  # one knot: the mean of the three patients
    assert encoder.min_ == encoder.max_ == pytest.approx(((210 + 199) / 2 + 185 + 240) / 3)


def test_numeric_encoder_rounds_after_clipping_to_the_knots():
    values = np.r_[np.arange(60, 100, dtype=np.int64), [250]]
    encoder = NumericEncoder().fit(pd.Series(values), np.arange(values.size))
    restored = encoder.inverse_transform([-40.0, 0.0, 40.0])

    assert restored.dtype == np.int64  # outer knots are means, decoded to whole numbers
    low, high = encoder._data_range()  # the outer groups' means (62.5 and 122.5)
    assert restored.iloc[0] == round(low) and restored.iloc[-1] == round(high)
    assert restored.iloc[-1] < 250


def test_no_sentinel_warning_names_zero_values():
    """A tiny interquartile range may put the pooled ends a million of them away while no
    value is: nothing to warn about."""
    values = [7.0, 2.5e-304, 0.0, 1e-300, 2.5e-304, 1e-05, 1e-05, 0.5, 1e-05, 2.5e-304, 0.0,
              0.0, 2.5e-304, 1e-300, 1e-300, 0.0, 2.5e-304, 1e-300, 7.0, 1e-05, 1e-300, 1.0,
              -1.0, 7.0, 7.0, 1e-05, 1e-05]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        encoder = NumericEncoder().fit(values, np.arange(len(values)))
    decoded = encoder.inverse_transform(encoder.transform(values)).to_numpy()
    assert np.isfinite(decoded).all()
