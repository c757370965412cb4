"""KnownPatients: what is known of each feature, and the known state a sampler holds fixed."""

from dataclasses import replace

import numpy as np
import torch
from helpers.encoded import make_cohort, make_denoiser

from cdmtehr.completion import known_patients
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.layout import StateLayout


def _cohort_with_a_charted_channel():
    """`make_cohort` whose channel 0 is measured at nearly every step, one value per stay."""
    cohort = make_cohort()
    numeric = cohort.numeric.copy()
    numeric[:, :, 0] = numeric[:, :1, 0]
    observed = cohort.observed.copy()
    observed[:, :, 0] = cohort.length_mask()
    observed[5, 0, 0] = False  # sometimes missing, so that the channel has a mask feature
    return replace(cohort, numeric=numeric, observed=observed)


def _setup(cohort):
    layout = StateLayout.from_cohort(cohort)
    tensors = CohortTensors.from_cohort(cohort, layout)
    return layout, make_denoiser(layout, tensors)


def test_everything_is_known_by_default_and_the_state_is_the_training_state():
    cohort = make_cohort()
    layout, denoiser = _setup(cohort)
    known = known_patients(cohort, layout)
    features = known.feature_mask()
    assert features.shape == (cohort.n_patients, layout.n_features)
    # Measured values, the fill of unmeasured cells (copies of known measurements) and the
    # padding are all known.
    assert features.all()
    clean, mask = known.states(denoiser)(0, 5)
    expected = denoiser.clean_state(CohortTensors.from_cohort(cohort.subset(slice(0, 5)), layout))
    torch.testing.assert_close(clean, expected.detach().double())
    assert mask.shape == clean.shape == (5, layout.size) and mask.dtype == torch.bool


def test_hidden_cells_are_measured_with_an_unknown_value():
    cohort = make_cohort()
    layout, _ = _setup(cohort)
    hidden = np.zeros(cohort.observed.shape, dtype=bool)
    hidden[0, 1, 0] = True  # channel 0 is sometimes missing: it has a mask feature
    known = known_patients(cohort, layout, hidden=hidden)
    assert known.cohort.observed[0, 1, 0] and not known.values[0, 1, 0]
    mask_feature = layout.masked_values.index(0)
    assert known.codes[0, 1, mask_feature]  # "measured" is known
    assert known.values[1:].all()  # the other patients are untouched


def test_a_repeat_level_next_to_a_hidden_cell_is_drawn():
    cohort = _cohort_with_a_charted_channel()
    layout, _ = _setup(cohort)
    assert layout.repeated_values == (0,)
    hidden = np.zeros(cohort.observed.shape, dtype=bool)
    hidden[0, 2, 0] = True
    known = known_patients(cohort, layout, hidden=hidden)
    mask_feature = layout.masked_values.index(0)
    # The hidden cell's level (repeat or not) and the next measurement's depend on its value.
    assert not known.codes[0, 2, mask_feature] and not known.codes[0, 3, mask_feature]
    assert known.codes[0, 1, mask_feature] and known.codes[0, 4, mask_feature]
    assert known.codes[1:, :, mask_feature].all()


def test_unknown_steps_validity_and_statics():
    cohort = make_cohort()
    layout, _ = _setup(cohort)
    steps = np.zeros(cohort.length_mask().shape, dtype=bool)
    steps[:, 3:] = True
    static_unknown = np.zeros(cohort.static_numeric.shape, dtype=bool)
    static_unknown[:, 0] = True
    known = known_patients(cohort, layout, steps_unknown=steps, validity_unknown=steps,
                           static_unknown=static_unknown)
    assert not known.values[:, 3:].any() and not known.codes[:, 3:].any()
    assert known.codes[:, :3, -1].all()  # the validity flag of the first steps is known
    assert not known.static_values[:, 0].any()
    # Static masks (layout order: masked static values first) of column 0 are drawn too.
    assert layout.masked_static_values == (0,)
    assert not known.static_codes[:, 0].any() and known.static_codes[:, 1:].all()


def test_repeat_gives_the_patients_draw_after_draw():
    cohort = make_cohort(n=3)
    layout, _ = _setup(cohort)
    hidden = np.zeros(cohort.observed.shape, dtype=bool)
    hidden[1, 0, 1] = True
    known = known_patients(cohort, layout, hidden=hidden).repeat(2)
    assert known.n_patients == 6
    np.testing.assert_array_equal(known.hidden[3:], known.hidden[:3])
    np.testing.assert_array_equal(known.cohort.numeric[4], cohort.numeric[1])


def test_the_fill_of_unmeasured_cells_is_known_only_when_its_source_is():
    cohort = make_cohort()
    layout, _ = _setup(cohort)
    observed = np.zeros(cohort.observed.shape, dtype=bool)
    observed[0, [1, 4], 0] = True  # patient 0 (6 steps), channel 0: measured at steps 1 and 4
    cohort = replace(cohort, observed=observed)
    hidden = np.zeros_like(observed)
    hidden[0, 4, 0] = True
    known = known_patients(cohort, layout, hidden=hidden)
    # Step 0 copies step 1 (backward), 2-3 copy step 1: known; 5 copies the hidden step 4.
    assert known.values[0, :, 0].tolist() == [True, True, True, True, False, False]
    steps = np.zeros(cohort.length_mask().shape, dtype=bool)
    steps[:, 1:] = True  # only step 0 is known: its backward fill might come from step 1
    known = known_patients(cohort, layout, steps_unknown=steps)
    assert not known.values[0, 0, 0] and not known.values[:, 1:].any()
