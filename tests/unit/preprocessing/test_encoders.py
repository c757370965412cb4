"""NumericEncoder and CategoricalEncoder: fit / transform / inverse_transform on one column."""

import numpy as np
import pandas as pd
import pytest

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
    encoder = NumericEncoder().fit(series)
    assert encoder.decimals_ == decimals
    # Generated scores fall between the knots; the decoded values keep the recorded precision.
    decoded = encoder.inverse_transform(encoder.transform(series) + 0.013).dropna().to_numpy()
    if decimals is None:
        assert not np.array_equal(decoded, np.round(decoded, 6))
    else:  # to round-off: an observed bound such as 0.1 + 0.2 comes back as it was
        np.testing.assert_array_max_ulp(decoded, np.round(decoded, decimals), maxulp=16)


def test_numeric_encoder_rounding_can_be_switched_off():
    series = pd.Series([80.6, 81.2, 95.0, 70.1])
    encoder = NumericEncoder(max_decimals=None).fit(series)
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
    scores, restored = _roundtrip(NumericEncoder(), series.rename("x"), cast=np.float32)

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
    encoder = NumericEncoder().fit(pd.Series([4.2, np.nan, 4.2]))

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
    encoder = NumericEncoder().fit(values)
    scores = encoder.transform(values)

    assert np.isfinite(scores).all()
    assert len(np.unique(scores)) == len(np.unique(values))  # nothing merged
    restored = encoder.inverse_transform(scores.astype(np.float32)).to_numpy()
    assert np.isfinite(restored).all()
    spread = values.max() - values.min()
    np.testing.assert_allclose(restored, values, rtol=1e-6, atol=1e-12 * spread)


def test_numeric_encoder_inverse_clips_and_rounds_model_output():
    encoder = NumericEncoder().fit(pd.Series([3, 8, 15, 15, 12], dtype="int64"))

    restored = encoder.inverse_transform([-40.0, -1.3, 0.2, 0.77, 40.0])

    assert restored.dtype == np.int64
    assert restored.min() >= 3 and restored.max() <= 15
    assert restored.iloc[0] == 3 and restored.iloc[-1] == 15


def test_numeric_encoder_exact_for_few_distinct_values_in_large_column():
    rng = np.random.default_rng(2)
    values = rng.choice(np.round(rng.normal(size=900), 3), size=50_000)

    scores, restored = _roundtrip(NumericEncoder(), pd.Series(values), cast=np.float32)

    np.testing.assert_array_equal(restored.to_numpy(), values)


def test_numeric_encoder_subsample_keeps_extremes():
    values = np.random.default_rng(3).normal(size=20_000)
    encoder = NumericEncoder(subsample=1000).fit(values)

    restored = encoder.inverse_transform(encoder.transform(values)).to_numpy()

    assert restored.min() == values.min() and restored.max() == values.max()
    np.testing.assert_allclose(restored, values, atol=0.05)


def test_numeric_encoder_nan_score_for_int_dtype_is_an_error():
    encoder = NumericEncoder().fit(pd.Series([1, 2, 3], name="gcs"))
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
    encoder = NumericEncoder().fit(values)

    back = encoder.inverse_transform(encoder.transform(values))

    assert np.isfinite(back).all()
    assert back.iloc[0] == -1e308 and back.iloc[-1] == 1e308
