"""Generation pads each chunk to its longest drawn stay and samples stays of very different
drawn lengths in groups of similar length, the patients kept in their order."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers.encoded import make_cohort, make_denoiser

from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.denoiser import Denoiser
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.profiles.stay import stay_profile
from cdmtehr.diffusion.schedule import FactorizedSchedule
from cdmtehr.sampling import generate


def _model_and_profiles(lengths):
    lengths = np.asarray(lengths)
    cohort = replace(make_cohort(n=len(lengths), length=40), lengths=lengths)
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    tensors = CohortTensors.from_cohort(cohort, layout)
    denoiser = make_denoiser(layout, tensors, hidden_size=8).eval()
    profiles = stay_profile(tensors.values, tensors.codes, tensors.valid, layout)
    return denoiser, FactorizedSchedule(layout), profiles


def _generate_recording(monkeypatch, denoiser, schedule, profiles, **options):
    """`generate`'s chunks, and (states, steps) of every evaluation of the denoiser."""
    seen = []
    original = Denoiser.predict

    def recording(self, x, *args, **kwargs):
        seen.append((x.shape[0], self.layout.length_of(x.shape[-1])))
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(Denoiser, "predict", recording)
    chunks = list(generate(denoiser, schedule, np.zeros(len(profiles), int), steps=3,
                           generator=torch.Generator().manual_seed(0),
                           profiles=lambda start, stop: profiles[start:stop],
                           **options))
    return chunks, seen


@pytest.mark.parametrize("sampler", ["euler", "sde"])
def test_a_long_drawn_stay_is_sampled_apart_from_the_short_ones(monkeypatch, sampler):
    lengths = [3, 2, 40, 3, 2, 3, 3, 2]
    denoiser, schedule, profiles = _model_and_profiles(lengths)
    chunks, seen = _generate_recording(monkeypatch, denoiser, schedule, profiles,
                                       batch_size=8, sampler=sampler)
    # Two groups: seven short stays padded to 3 steps, the long one alone.
    assert {(rows, steps) for rows, steps in seen} == {(7, 3), (1, 40)}
    (chunk,) = chunks
    assert chunk["lengths"].tolist() == lengths  # in the patients' order
    assert chunk["numeric"].shape[:2] == (8, 40)
    short = np.asarray(lengths) < 40
    assert not chunk["observed"][short, 3:].any() and not chunk["numeric"][short, 3:].any()


def test_a_chunk_is_padded_to_its_longest_drawn_stay(monkeypatch):
    denoiser, schedule, profiles = _model_and_profiles([3, 2, 40, 3, 2, 3])
    chunks, seen = _generate_recording(monkeypatch, denoiser, schedule, profiles,
                                       batch_size=2)
    assert [chunk["numeric"].shape[1] for chunk in chunks] == [3, 40, 3]
    assert {steps for _, steps in seen} == {3, 40}


def test_grouping_draws_alike_lengths_as_one_chunk_would(monkeypatch):
    # Equal drawn lengths: one group, the same noise as a chunk of every step.
    denoiser, schedule, profiles = _model_and_profiles([40] * 4)
    chunks, seen = _generate_recording(monkeypatch, denoiser, schedule, profiles,
                                       batch_size=4)
    assert {(rows, steps) for rows, steps in seen} == {(4, 40)}
    assert chunks[0]["lengths"].tolist() == [40] * 4
