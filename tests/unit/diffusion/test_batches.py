"""Batches are padded to their own longest stay, and stays of very different lengths are
split into groups of similar length, so that memory follows rows, not patients x T."""

from dataclasses import replace

import numpy as np
import torch
from helpers.encoded import make_cohort

from cdmtehr.diffusion.batches import PADDING_LIMIT, CohortTensors, code_dtype, length_groups
from cdmtehr.diffusion.layout import StateLayout


def _tensors(lengths):
    """Tensors of a cohort whose stays have `lengths` (padded to the longest)."""
    lengths = np.asarray(lengths)
    cohort = replace(make_cohort(n=len(lengths), length=int(lengths.max())), lengths=lengths)
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    return CohortTensors.from_cohort(cohort, layout), layout


def test_a_batch_is_padded_to_its_own_longest_stay():
    tensors, _ = _tensors([30, 3, 5, 2, 4])
    batch = tensors.index(torch.tensor([1, 3, 4]))
    assert batch.valid.shape[1] == 4
    assert batch.values.shape[1] == batch.observed.shape[1] == batch.codes.shape[1] == 4
    assert torch.equal(batch.lengths, torch.tensor([3, 2, 4]))
    assert torch.equal(batch.values, tensors.values[[1, 3, 4], :4])
    # The statics are per patient, whatever their count.
    assert torch.equal(batch.static_values, tensors.static_values[[1, 3, 4]])
    assert tensors.index(torch.tensor([1, 3]), trim=False).valid.shape[1] == 30


def test_alike_lengths_stay_one_group_in_their_order():
    assert [g.tolist() for g in length_groups(torch.tensor([48, 48, 48]))] == [[0, 1, 2]]
    assert [g.tolist() for g in length_groups(torch.tensor([40, 48, 30]))] == [[0, 1, 2]]
    tensors, _ = _tensors([4, 4, 4])
    assert tensors.length_groups() == [tensors]


def test_one_long_stay_among_short_ones_is_a_group_of_its_own():
    lengths = torch.tensor([8] * 25 + [6000] + [8] * 25)
    groups = length_groups(lengths)
    assert sorted(torch.cat(groups).tolist()) == list(range(51))
    assert [25] in [g.tolist() for g in groups]
    rows = int(lengths.sum())
    assert all(len(g) * int(lengths[g].max()) <= PADDING_LIMIT * rows for g in groups)


def test_groups_of_a_batch_are_padded_to_their_own_longest_stay():
    tensors, _ = _tensors([2, 3, 40, 2, 3])
    groups = tensors.length_groups()
    assert len(groups) == 2
    assert [(len(g), g.valid.shape[1]) for g in groups] == [(4, 3), (1, 40)]


def test_codes_are_stored_in_the_smallest_type_that_holds_their_levels():
    tensors, layout = _tensors([6, 3, 5])
    assert tensors.codes.dtype == torch.uint8
    assert int(tensors.codes.max()) < max(layout.temporal.categorical_levels)
    assert [code_dtype(n) for n in (2, 256, 257, 32768, 32769)] == [
        np.uint8, np.uint8, np.int16, np.int16, np.int32]
    # the measured flags and the validity flag are the cohort's own
    cohort = replace(make_cohort(n=3, length=6), lengths=np.array([6, 3, 5]))
    masked = list(layout.masked_values)
    observed = torch.as_tensor(cohort.observed[:, :, masked])
    assert torch.equal(tensors.codes[..., : len(masked)] >= 1, observed)
    if layout.has_validity:
        assert torch.equal(tensors.codes[..., -1].bool(), tensors.valid)
