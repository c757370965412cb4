"""How a drawn profile conditions the second stage: held while sampling, kept when decoding."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cdmtehr.profiles import conditioning
from cdmtehr.profiles.conditioning import (
    decode_keeping,
    hold_profile,
    holding_profile,
    keep_counts,
    match_levels,
    profile_dims,
    training_inputs,
)
from cdmtehr.profiles.stay import level_statistics, profile_inputs, stay_profile


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**16), length=st.integers(1, 12))
def test_keep_counts_keeps_exactly_the_highest_scored_valid_steps(seed, length):
    rng = np.random.default_rng(seed)
    scores = torch.as_tensor(rng.normal(size=(3, length, 2)))
    valid = torch.as_tensor(np.arange(length)[None, :] < rng.integers(1, length + 1, (3, 1)))
    counts = torch.as_tensor(rng.integers(0, length + 2, (3, 2)))
    keep = keep_counts(scores, counts, valid)
    n_valid = valid.sum(dim=1)
    assert torch.equal(keep.sum(dim=1), torch.minimum(counts, n_valid[:, None]))
    assert not (keep & ~valid[..., None]).any()
    for b in range(3):
        for f in range(2):
            kept, dropped = scores[b, keep[b, :, f], f], scores[b, valid[b] & ~keep[b, :, f], f]
            if len(kept) and len(dropped):
                assert kept.min() >= dropped.max()


def test_match_levels_gives_the_drawn_mean_and_sd_and_leaves_the_rest():
    values = torch.tensor([[[0.0], [1.0], [2.0], [9.0]]])
    measured = torch.tensor([[[True], [True], [True], [False]]])
    moved = match_levels(values, measured, torch.tensor([[5.0]]), torch.tensor([[1.5]]))
    mean, sd = level_statistics(moved, measured)
    assert abs(mean.item() - 5.0) < 1e-6 and abs(sd.item() - 1.5) < 1e-6
    assert moved[0, 3, 0] == 9.0  # unmeasured: untouched
    # The order of the measurements (the shape of the stay) is kept.
    assert torch.all(torch.diff(moved[0, :3, 0]) > 0)


def test_match_levels_only_shifts_a_single_or_constant_measurement():
    values = torch.tensor([[[2.0, 3.0], [2.0, 8.0]]])
    measured = torch.tensor([[[True, True], [True, False]]])
    moved = match_levels(values, measured, torch.tensor([[0.5, 1.0]]),
                         torch.tensor([[10.0, 0.0]]))
    assert moved[0, :, 0].tolist() == [0.5, 0.5]  # a flat stay stays flat, at the mean
    assert moved[0, 0, 1] == 1.0 and moved[0, 1, 1] == 8.0  # one measurement: shifted


def test_hold_profile_sets_what_decoding_keeps_and_leaves_the_rest(parts):
    _, layout, tensors, denoiser = parts
    profile = stay_profile(tensors.values, tensors.codes, tensors.valid, layout)
    noisy = torch.randn((len(profile), layout.size), generator=torch.Generator().manual_seed(3))
    held = hold_profile(denoiser, noisy, profile)
    decoded = decode_keeping(denoiser, noisy, profile)
    decoded_held = decode_keeping(denoiser, held, profile)
    # The held state already has the masks and lengths that decoding keeps ...
    for name in ("observed", "lengths"):
        assert np.array_equal(decoded[name], decoded_held[name])
    step = layout.temporal.width
    changed = (held != noisy).reshape(len(profile), -1)[:, : layout.max_length * step]
    changed = changed.reshape(len(profile), layout.max_length, step).any(dim=(0, 1))
    # ... and only the numbers that embed a mask or the validity flag were touched.
    assert changed.any() and not (changed & ~profile_dims(layout)).any()
    assert torch.equal(held[:, layout.max_length * step:], noisy[:, layout.max_length * step:])


def test_sampling_holds_the_profile_only_where_its_noise_is_low(parts, monkeypatch):
    _, layout, tensors, denoiser = parts
    profile = stay_profile(tensors.values, tensors.codes, tensors.valid, layout)
    calls = []

    def record(model, denoised, given, cells):
        calls.append(cells.clone())
        return denoised

    monkeypatch.setattr(conditioning, "hold_profile", record)
    holding = holding_profile(lambda x, sigma, c: x, denoiser, profile)
    x = torch.zeros((len(profile), layout.size))
    high = torch.full((layout.size,), conditioning.HOLD_PROFILE_BELOW * 2)
    holding(x, high, None)
    assert calls == []
    # One step of the stay with a low noise level: only its profile numbers are held.
    step = layout.temporal.width
    sigma = high.clone()
    sigma[2 * step : 3 * step] = conditioning.HOLD_PROFILE_BELOW / 2
    holding(x, sigma, None)
    (cells,) = calls
    assert cells[2].equal(profile_dims(layout)) and cells.sum() == cells[2].sum()


def test_training_inputs_are_each_patients_own_profile_or_zeros_where_hidden(parts):
    _, layout, tensors, _ = parts
    own = profile_inputs(stay_profile(tensors.values, tensors.codes, tensors.valid, layout),
                         layout)
    hidden = torch.zeros(len(own), dtype=torch.bool)
    hidden[0] = True
    inputs = training_inputs(tensors, layout, hidden)
    assert torch.all(inputs[0] == 0) and torch.equal(inputs[1:], own[1:])
    assert torch.equal(training_inputs(tensors, layout), own)
