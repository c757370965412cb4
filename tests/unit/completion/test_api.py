"""forecast, impute and sample(given=...) on a tiny fitted model: what comes back exactly."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SAMPLING = {"steps": 2}


@pytest.fixture(scope="module")
def frame(tiny_conditional):
    return tiny_conditional[0]


@settings(max_examples=15)
@given(prefix_length=st.integers(1, 3), n_draws=st.integers(1, 3), data=st.data())
def test_forecast_returns_the_prefix_unchanged(tiny_model, frame, prefix_length, n_draws, data):
    horizon = data.draw(st.one_of(st.none(), st.integers(1, 3)).filter(
        lambda h: h is None or prefix_length + h <= 3))
    patients = data.draw(st.lists(st.sampled_from(range(6)), min_size=1, unique=True))
    prefix = frame[frame["pid"].isin(patients) & (frame["t"] < prefix_length)]
    before = prefix.copy()
    out = tiny_model.forecast(prefix, horizon=horizon, n_draws=n_draws, random_state=0,
                              **SAMPLING)
    pd.testing.assert_frame_equal(prefix, before)  # the caller's frame is never mutated
    assert ("draw" in out.columns) == (n_draws > 1)
    draws = out.groupby("draw") if n_draws > 1 else [(0, out)]
    assert len(draws) == n_draws
    expected = prefix.sort_values(["pid", "t"]).reset_index(drop=True)
    for _, one in draws:
        one = one.drop(columns="draw", errors="ignore")
        assert list(one.columns) == list(prefix.columns)
        head = one[one["t"] < prefix_length].reset_index(drop=True)
        pd.testing.assert_frame_equal(head, expected)
        lengths = one.groupby("pid").size()
        assert sorted(lengths.index) == sorted(patients)
        if horizon is not None:
            assert (lengths == prefix_length + horizon).all()
        # Per-patient columns keep their given values on the generated rows.
        assert (one.groupby("pid")[["sex", "outcome"]].nunique() == 1).all().all()


@settings(max_examples=15)
@given(cells=st.lists(st.booleans(), min_size=18, max_size=18),
       nans=st.lists(st.booleans(), min_size=18, max_size=18), n_draws=st.integers(1, 2))
def test_impute_fills_the_marked_cells_and_keeps_nan_as_not_measured(tiny_model, frame, cells,
                                                                      nans, n_draws):
    df = frame.copy()
    df.index = df.index * 10 + 3  # any index: the result keeps it
    hidden = np.asarray(cells)
    df.loc[np.asarray(nans) & ~hidden, "x"] = np.nan
    mask = pd.DataFrame({"x": hidden, "c": np.roll(hidden, 1)}, index=df.index)
    out = tiny_model.impute(df, mask=mask, n_draws=n_draws, random_state=0, **SAMPLING)
    copies = [c.drop(columns="draw") for _, c in out.groupby("draw")] if n_draws > 1 else [out]
    for copy in copies:
        assert list(copy.columns) == list(df.columns) and copy.index.equals(df.index)
        keep = ~mask.reindex(columns=df.columns, fill_value=False)
        pd.testing.assert_frame_equal(copy.where(keep), df.where(keep))
        assert copy.loc[hidden, "x"].notna().all()
        assert copy["c"].isin(["a", "b", "c"]).all()


@settings(max_examples=10)
@given(sex=st.lists(st.sampled_from(["F", "M", None]), min_size=5, max_size=5),
       outcome=st.sampled_from([None, "0", "1"]))
def test_given_values_come_back_exactly(tiny_model, sex, outcome):
    given = pd.DataFrame({"sex": sex})
    if outcome is not None:
        given["outcome"] = outcome
    out = tiny_model.sample(5, given=given, random_state=0, **SAMPLING)
    per_patient = out.groupby("pid", sort=True)[["sex", "outcome"]].first().reset_index(drop=True)
    known = given["sex"].notna()
    assert (per_patient.loc[known, "sex"] == given.loc[known, "sex"]).all()
    assert per_patient["sex"].notna().all()
    if outcome is not None:
        assert (per_patient["outcome"] == outcome).all()


def test_given_dict_of_constants_and_guidance(tiny_model):
    out = tiny_model.sample(4, given={"sex": "M"}, condition="1", guidance_scale=2.0,
                            random_state=0, **SAMPLING)
    assert (out["sex"] == "M").all() and (out["outcome"] == "1").all()
    assert out["pid"].nunique() == 4


def test_completions_are_reproducible_and_draws_differ(tiny_model, frame):
    mask = pd.DataFrame({"x": frame["t"] == 1}, index=frame.index)
    first = tiny_model.impute(frame, mask=mask, n_draws=2, random_state=3, **SAMPLING)
    again = tiny_model.impute(frame, mask=mask, n_draws=2, random_state=3, **SAMPLING)
    pd.testing.assert_frame_equal(first, again)
    draws = [d.loc[mask["x"], "x"].to_numpy() for _, d in first.groupby("draw")]
    assert not np.array_equal(draws[0], draws[1])


def test_nan_option_measured_fills_every_missing_value(tiny_model, frame):
    df = frame.copy()
    df.loc[df["t"] == 2, "x"] = np.nan
    out = tiny_model.impute(df, nan="measured", random_state=0, **SAMPLING)
    assert out["x"].notna().all()
    pd.testing.assert_series_equal(out.loc[df["x"].notna(), "x"], df["x"].dropna())


def test_a_frame_without_the_condition_column_is_completed_unconditionally(tiny_model, frame):
    prefix = frame[frame["t"] == 0].drop(columns="outcome")
    out = tiny_model.forecast(prefix, random_state=0, **SAMPLING)
    assert "outcome" not in out.columns and out.groupby("pid").size().min() >= 1


def test_the_callers_frames_are_never_mutated(tiny_model, frame):
    df = frame.copy()
    df.loc[df["t"] == 2, "x"] = np.nan
    mask = pd.DataFrame({"x": df["t"] == 1, "sex": df["t"] == 0}, index=df.index)
    df_before, mask_before = df.copy(), mask.copy()
    tiny_model.impute(df, mask=mask, nan="unknown", random_state=0, **SAMPLING)
    given = pd.DataFrame({"sex": ["F", "M"]})
    tiny_model.sample(2, given=given, random_state=0, **SAMPLING)
    pd.testing.assert_frame_equal(df, df_before)
    pd.testing.assert_frame_equal(mask, mask_before)
    pd.testing.assert_frame_equal(given, pd.DataFrame({"sex": ["F", "M"]}))


def test_sampling_defaults_drawing_and_completion(tiny_model, monkeypatch):
    import inspect

    from cdmtehr import CDMTSynthesizer
    from cdmtehr.completion import api
    from cdmtehr.sampling.inpainting import REPLACEMENT_SAMPLER, REPLACEMENT_STEPS
    from cdmtehr.sampling.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS

    # The signatures say what the module constants say.
    def defaults(method):
        parameters = inspect.signature(method).parameters
        return parameters["steps"].default, parameters["sampler"].default

    assert defaults(CDMTSynthesizer.sample_to_parquet) == (DEFAULT_STEPS, DEFAULT_SAMPLER)
    for method in (CDMTSynthesizer.forecast, CDMTSynthesizer.impute):
        assert defaults(method) == (REPLACEMENT_STEPS, REPLACEMENT_SAMPLER)
    assert defaults(CDMTSynthesizer.sample) == (None, None)

    # sample draws with the drawing defaults, and with completion's when columns are given.
    seen = []

    def recording(synth, classes, steps, sampler, *args, **kwargs):
        seen.append((steps, sampler))
        return generated(synth, classes, steps, sampler, *args, **kwargs)

    generated = api.generated_cohorts
    monkeypatch.setattr(api, "generated_cohorts", recording)
    tiny_model.sample(3, random_state=0)
    tiny_model.sample(3, given={"sex": "M"}, random_state=0)
    tiny_model.sample(3, given={"sex": "M"}, steps=2, sampler="heun", random_state=0)
    assert seen == [(DEFAULT_STEPS, DEFAULT_SAMPLER), (REPLACEMENT_STEPS, REPLACEMENT_SAMPLER),
                    (2, "heun")]
