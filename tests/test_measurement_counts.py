"""``measurement_counts``: a static count per masked channel, and masks decoded to it."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from model_files import assert_loads_as_before
from test_diffusion import make_cohort
from test_edge_cases import ROLES, TINY, cohort

from cdmtehr import CDMTSynthesizer
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.counts import (
    count_moments,
    count_scores,
    counts_from_scores,
    measure_counted_steps,
)
from cdmtehr.diffusion.denoiser import Denoiser, categorical_frequencies
from cdmtehr.diffusion.layout import StateLayout


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_count_scores_invert_exactly(data):
    length = data.draw(st.integers(1, 60))
    n = data.draw(st.integers(1, 5))
    lengths = torch.tensor(data.draw(st.lists(st.integers(1, length), min_size=n, max_size=n)))
    valid = torch.arange(length)[None, :] < lengths[:, None]
    observed = torch.tensor(
        data.draw(st.lists(st.lists(st.booleans(), min_size=length, max_size=length),
                           min_size=n, max_size=n))
    )[..., None]
    moments = count_moments(observed.numpy(), valid.numpy())
    scores = count_scores(observed, valid, moments)
    assert torch.isfinite(scores).all()
    expected = (observed[..., 0] & valid).sum(dim=1)[:, None]
    assert torch.equal(counts_from_scores(scores, lengths, moments), expected)


def test_counts_from_scores_stay_within_the_stay():
    lengths = torch.tensor([1, 5, 48])
    scores = torch.tensor([[-50.0, 50.0], [0.0, 50.0], [-0.5, 1.0]])
    counts = counts_from_scores(scores, lengths, [(0.5, 0.2), (0.5, 0.2)])
    assert counts[0].tolist() == [0, 1]
    assert counts[1, 1] == 5
    assert ((counts >= 0) & (counts <= lengths[:, None])).all()


def test_the_steps_that_lean_most_to_measured_are_kept():
    # One stay of 5 steps (4 valid), one channel with three levels: missing, measured, repeated.
    lean = torch.tensor([0.5, -1.0, 2.0, 0.1, 9.0])  # step 4 is past the end of the stay
    scores = torch.zeros(1, 5, 1, 3)
    scores[0, :, 0, 1] = lean
    scores[0, :, 0, 2] = -5.0
    scores[0, 2, 0, 2] = 3.0  # step 2 is nearest to "repeated"
    codes = measure_counted_steps(scores, torch.tensor([[2]]), torch.tensor([4]))
    assert codes[0, :, 0].tolist() == [1, 0, 2, 0, 0]
    none = measure_counted_steps(scores, torch.tensor([[0]]), torch.tensor([4]))
    assert (none == 0).all()
    every = measure_counted_steps(scores, torch.tensor([[4]]), torch.tensor([4]))
    assert every[0, :, 0].tolist() == [1, 1, 2, 1, 0]


def test_layout_puts_the_counts_after_the_static_numeric_columns():
    data = make_cohort()
    plain = StateLayout.from_cohort(data, embedding_dim=4)
    counted = StateLayout.from_cohort(data, embedding_dim=4, counts=True)
    assert counted.counted_values == plain.masked_values
    assert counted.static.n_numeric == plain.static.n_numeric + len(plain.masked_values)
    assert counted.n_static_values == plain.n_static_values
    assert StateLayout.from_dict(counted.to_dict()) == counted
    # Files from before the option have no counts.
    spec = plain.to_dict()
    del spec["counted_values"]
    assert StateLayout.from_dict(spec) == plain

    tensors = CohortTensors.from_cohort(data, counted)
    width = plain.n_static_values
    assert tensors.static_observed[:, width:].all()
    lengths = tensors.valid.sum(dim=1)
    counts = counts_from_scores(tensors.static_values[:, width:], lengths, counted.count_moments)
    observed = tensors.observed[..., list(counted.counted_values)] & tensors.valid[..., None]
    assert torch.equal(counts, observed.sum(dim=1))
    # Standardised over the stays the moments come from.
    scores = tensors.static_values[:, width:]
    torch.testing.assert_close(scores.mean(dim=0), torch.zeros(scores.shape[1]), atol=1e-5, rtol=0)


def test_decoding_keeps_the_generated_number_of_measurements():
    data = make_cohort()
    layout = StateLayout.from_cohort(data, embedding_dim=4, counts=True)
    tensors = CohortTensors.from_cohort(data, layout)
    temporal_freq, static_freq = categorical_frequencies(tensors, layout)
    torch.manual_seed(0)
    model = Denoiser(layout, 2, temporal_freq, static_freq, hidden_size=8)
    x = torch.randn(6, layout.size)
    decoded = model.decode(x)
    # The counts that the static block holds, decoded with the generated lengths.
    static = x[:, layout.max_length * layout.temporal.width :]
    scores = static[:, layout.n_static_values : layout.static.n_numeric]
    lengths = torch.as_tensor(decoded["lengths"])
    counts = counts_from_scores(scores, lengths, layout.count_moments).numpy()
    inside = np.arange(layout.max_length)[None, :] < decoded["lengths"][:, None]
    observed = decoded["observed"][..., list(layout.counted_values)] & inside[..., None]
    assert np.array_equal(observed.sum(axis=1), counts)
    # The clean state of real patients decodes to their own masks.
    clean = model.clean_state(tensors).detach()
    own = model.decode(clean)
    valid = tensors.valid.numpy()[..., None]
    assert np.array_equal(own["observed"] & valid, tensors.observed.numpy() & valid)


def charted_cohort(n_patients=16, length=12):
    """Temperature every 4 h for half the patients, hourly for the others; HR always."""
    rng = np.random.default_rng(0)
    rows = []
    for pid in range(n_patients):
        every = 4 if pid % 2 else 1
        for t in range(length):
            rows.append({"pid": pid, "t": t, "hr": rng.normal(80, 5),
                         "temp": rng.normal(37, 0.3) if t % every == 0 else np.nan,
                         "sex": "F" if pid % 3 else "M"})
    return pd.DataFrame(rows)


def test_fit_sample_save_and_load_with_counts(tmp_path):
    df = charted_cohort()
    before = df.copy()
    roles = {"id_col": "pid", "time_col": "t", "num_cols": ["hr", "temp"],
             "static_cols": ["sex"]}
    synth = CDMTSynthesizer(**TINY, measurement_counts=True).fit(df, **roles)
    assert df.equals(before)
    assert synth.layout_.counted_values == (1,)  # temp only: hr is never missing
    out = synth.sample(9, random_state=0)
    assert synth.sample(9, random_state=0).equals(out)
    assert out["hr"].notna().all()
    path = tmp_path / "model.cdmt"
    synth.save(path)
    assert CDMTSynthesizer.load(path).sample(9, random_state=0).equals(out)


def test_model_files_and_pickles_from_before_the_parameter_load_without_it(tmp_path):
    synth = CDMTSynthesizer(measurement_counts=False, **TINY).fit(cohort(), **ROLES)

    def layout_as_before(manifest):
        del manifest["layout"]["counted_values"]

    assert_loads_as_before(synth, tmp_path, "measurement_counts", layout_as_before)


def test_a_bad_value_is_refused_before_training():
    from cdmtehr.exceptions import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="measurement_counts"):
        CDMTSynthesizer(**TINY, measurement_counts=1.5).fit(cohort(), **ROLES)
