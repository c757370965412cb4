"""Exact repeats of a measurement: the third mask state, its targets and decoding."""

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from helpers.encoded import make_cohort, make_denoiser

from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.denoiser import _copy_repeats
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.diffusion.masks import REPEAT_MIN_SHARE, repeat_shares, repeated_measurements


def test_a_repeat_equals_the_latest_earlier_measurement_of_the_stay():
    nan = np.nan
    values = np.array([[[1.0], [nan], [1.0], [2.0], [2.0], [1.0], [1.0]]])
    observed = ~np.isnan(values)
    # The first measurement repeats nothing; step 2 repeats step 0 across the gap.
    expected = np.array([[[False], [False], [True], [False], [True], [False], [True]]])
    np.testing.assert_array_equal(repeated_measurements(values, observed), expected)


@given(
    arrays(np.float64, (3, 6, 2), elements=st.sampled_from([0.0, 1.0, 2.5])),
    arrays(bool, (3, 6, 2)),
)
def test_repeats_are_exactly_the_measurements_equal_to_the_one_before(values, observed):
    repeats = repeated_measurements(values, observed)
    assert not (repeats & ~observed).any()
    for patient in range(3):
        for channel in range(2):
            previous = None
            for step in range(6):
                if not observed[patient, step, channel]:
                    continue
                value = values[patient, step, channel]
                assert repeats[patient, step, channel] == (previous == value)
                previous = value


def test_a_decoded_repeat_copies_the_latest_measurement_that_is_not_a_repeat():
    values = torch.tensor([[[5.0], [9.0], [7.0], [8.0], [3.0], [4.0]]])
    observed = torch.tensor([[[True], [True], [False], [True], [True], [True]]])
    repeated = torch.tensor([[[True], [True], [True], [True], [False], [True]]])
    copied = _copy_repeats(values, observed, repeated)
    # Step 0 has nothing to repeat and keeps 5; steps 1 and 3 hold it (step 2 is unmeasured
    # and untouched); step 5 repeats the new measurement of step 4.
    expected = torch.tensor([[[5.0], [5.0], [7.0], [5.0], [3.0], [3.0]]])
    assert torch.equal(copied, expected)


def cohort_with_repeats():
    cohort = make_cohort(n=40, length=6)
    # Channel 0 holds one value per patient (a charted weight); channels 1 and 2 are
    # continuous and never repeat exactly.
    cohort.numeric[:, :, 0] = cohort.numeric[:, :1, 0]
    assert not repeated_measurements(cohort.numeric, cohort.observed)[..., 1:].any()
    return cohort


def test_repeat_shares_count_the_measurements_after_each_stays_first():
    values = np.array([[[1.0], [1.0], [2.0], [2.0]], [[3.0], [5.0], [5.0], [0.0]]])
    observed = np.array([[[True], [True], [True], [True]], [[True], [False], [False], [False]]])
    # Patient 0: 3 later measurements, 2 of them repeats; patient 1 has a single one.
    np.testing.assert_allclose(repeat_shares(values, observed), [2 / 3])
    assert repeat_shares(values, np.zeros_like(observed))[0] == 0.0


def test_channels_that_repeat_now_and_then_keep_two_mask_states():
    cohort = cohort_with_repeats()
    # Channel 2 repeats its previous measurement a few times, well under the threshold.
    observed = cohort.observed[:, :, 2] & cohort.length_mask()
    patients = np.flatnonzero(observed.sum(axis=1) >= 2)[:3]
    for patient in patients:
        first, second = np.flatnonzero(observed[patient])[:2]
        cohort.numeric[patient, second, 2] = cohort.numeric[patient, first, 2]
    share = repeat_shares(cohort.numeric, cohort.observed & cohort.length_mask()[:, :, None])
    assert 0 < share[2] < REPEAT_MIN_SHARE <= share[0]
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    assert layout.repeated_values == (0,)


def test_only_masked_channels_with_repeats_get_the_third_state():
    cohort = cohort_with_repeats()
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    assert layout.masked_values == (0, 2)
    assert layout.repeated_values == (0,)
    # Masks (channel 0 with the third state), the 3-level column, the validity flag.
    assert layout.temporal.categorical_levels == (3, 2, 3, 2)
    assert StateLayout.from_dict(layout.to_dict()) == layout


def test_training_targets_mark_repeats_with_the_third_state():
    cohort = cohort_with_repeats()
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    codes = CohortTensors.from_cohort(cohort, layout).codes[..., 0].numpy()
    repeats = repeated_measurements(cohort.numeric, cohort.observed)[..., 0]
    expected = cohort.observed[..., 0].astype(np.int64) + repeats
    np.testing.assert_array_equal(codes, expected)
    assert (codes == 2).any() and (codes == 1).any()


def test_decoding_the_clean_state_gives_back_the_data_and_a_repeat_state_copies():
    cohort = cohort_with_repeats()
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    tensors = CohortTensors.from_cohort(cohort, layout)
    model = make_denoiser(layout, tensors, hidden_size=8)
    with torch.no_grad():
        state = model.clean_state(tensors)
    decoded = model.decode(state)
    observed = cohort.observed
    np.testing.assert_array_equal(decoded["observed"], observed)
    np.testing.assert_array_equal(decoded["numeric"][observed], cohort.numeric[observed])

    # Move a patient's second measurement of channel 0 away, then mark it "repeated": it is
    # decoded as a copy of the first again.
    patient = int(np.flatnonzero(observed[:, :, 0].sum(axis=1) >= 2)[0])
    first, second = np.flatnonzero(observed[patient, :, 0])[:2]
    mask_feature = layout.n_values  # the mask of channel 0
    ((index, group),) = [
        (i, g) for i, g in enumerate(layout.temporal.groups) if mask_feature in g.feature_index
    ]
    position = group.feature_index.index(mask_feature)
    width = layout.temporal.width
    start = second * width + group.offset + position * group.dim
    table = model.temporal_embedding.normalized_tables()[index]
    moved = state.clone()
    moved[patient, second * width] += 1.0  # the value of channel 0
    moved[patient, start : start + group.dim] = table[position, 1]  # "measured"
    decoded = model.decode(moved)["numeric"]
    assert decoded[patient, second, 0] != cohort.numeric[patient, first, 0]
    moved[patient, start : start + group.dim] = table[position, 2]  # "repeated"
    decoded = model.decode(moved)["numeric"]
    assert decoded[patient, second, 0] == cohort.numeric[patient, first, 0]


def test_repeats_in_blocks_are_the_repeats_of_all_at_once(monkeypatch):
    from cdmtehr import _blocks

    rng = np.random.default_rng(3)
    values = rng.integers(0, 3, size=(23, 7, 2)).astype(np.float32)
    observed = rng.random(values.shape) < 0.6
    whole = repeated_measurements(values, observed)
    monkeypatch.setattr(_blocks, "BLOCK_CELLS", 5 * 7 * 2)  # blocks of 5, the last one of 3
    np.testing.assert_array_equal(repeated_measurements(values, observed), whole)
    assert whole.any() and not whole[:, 0].any()  # the first step repeats nothing
