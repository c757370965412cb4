"""Per-patient "ever measured" flags: layout, training targets, decoding and the estimator."""

import numpy as np
import pandas as pd
import pytest
import torch
from model_files import edit_manifest
from test_diffusion import make_cohort
from test_edge_cases import ROLES, TINY, assert_output_contract

from cdmtehr import CDMTSynthesizer
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.denoiser import Denoiser, categorical_frequencies
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.exceptions import InvalidParameterError


def cohort_with_unmeasured_patients():
    cohort = make_cohort(n=40, length=6)
    valid = cohort.length_mask()
    # Channel 0 is never measured for patients 0-9; channel 2 is measured by everyone (at
    # least once); channel 1 is always measured and has no mask at all.
    cohort.observed[:10, :, 0] = False
    cohort.observed[:, 0, 2] = True
    assert (cohort.observed & valid[:, :, None]).any(axis=1)[:, 2].all()
    return cohort


def test_flags_go_only_to_channels_that_some_patients_never_have():
    cohort = cohort_with_unmeasured_patients()
    plain = StateLayout.from_cohort(cohort, embedding_dim=4)
    layout = StateLayout.from_cohort(cohort, embedding_dim=4, ever_measured=True)
    assert plain.ever_measured_values == ()
    assert layout.masked_values == (0, 2)
    assert layout.ever_measured_values == (0,)
    assert layout.static.categorical_levels == plain.static.categorical_levels + (2,)
    assert layout.n_static_categorical == plain.n_static_categorical
    assert StateLayout.from_dict(layout.to_dict()) == layout


def test_layouts_saved_before_the_flags_load_without_them():
    layout = StateLayout.from_cohort(make_cohort(), embedding_dim=4)
    spec = layout.to_dict()
    del spec["ever_measured_values"]
    assert StateLayout.from_dict(spec) == layout


def test_training_targets_hold_the_flag_of_each_patient():
    cohort = cohort_with_unmeasured_patients()
    layout = StateLayout.from_cohort(cohort, embedding_dim=4, ever_measured=True)
    tensors = CohortTensors.from_cohort(cohort, layout)
    flags = tensors.static_codes[:, -1].numpy()
    expected = (cohort.observed[:, :, 0] & cohort.length_mask()).any(axis=1)
    np.testing.assert_array_equal(flags, expected.astype(np.int64))
    assert flags[:10].sum() == 0 and flags[10:].sum() > 0


def test_a_patient_decoded_with_the_flag_off_has_no_values_of_that_channel():
    cohort = cohort_with_unmeasured_patients()
    layout = StateLayout.from_cohort(cohort, embedding_dim=4, ever_measured=True)
    tensors = CohortTensors.from_cohort(cohort, layout)
    temporal_freq, static_freq = categorical_frequencies(tensors, layout)
    model = Denoiser(layout, 2, temporal_freq, static_freq, hidden_size=8)
    # The clean state of every patient, with the flag of channel 0 on for patients 10-39.
    with torch.no_grad():
        state = model.clean_state(tensors)
    decoded = model.decode(state)
    static_categorical = tensors.static_codes[:, len(layout.masked_static_values) :]
    np.testing.assert_array_equal(
        decoded["static_categorical"], static_categorical[:, : layout.n_static_categorical]
    )
    observed = decoded["observed"]
    valid = cohort.length_mask()
    assert not observed[:10, :, 0].any()
    np.testing.assert_array_equal(
        observed[10:, :, 0] & valid[10:], cohort.observed[10:, :, 0] & valid[10:]
    )
    # Turn the flag of patient 12 off: its channel-0 values disappear, nothing else moves.
    static = layout.static
    flag_feature = static.n_features - 1  # the flag is the last static feature
    (index, group), = [(i, g) for i, g in enumerate(static.groups) if flag_feature in g.feature_index]
    position = group.feature_index.index(flag_feature)
    start = layout.max_length * layout.temporal.width + group.offset + position * group.dim
    table = model.static_embedding.normalized_tables()[index]
    off = state.clone()
    off[12, start : start + group.dim] = table[position, 0]  # the flag's "0" embedding
    again = model.decode(off)["observed"]
    assert not again[12, :, 0].any()
    np.testing.assert_array_equal(np.delete(again, 12, axis=0), np.delete(observed, 12, axis=0))
    np.testing.assert_array_equal(again[12, :, 1:], observed[12, :, 1:])


def frame_with_unmonitored_patients():
    rng = np.random.default_rng(0)
    n, length = 8, 4
    x = rng.normal(size=n * length)
    x[: 3 * length] = np.nan  # patients 0-2 never have x
    return pd.DataFrame(
        {
            "pid": np.repeat(np.arange(n), length),
            "t": np.tile(np.arange(length), n),
            "x": x,
            "c": rng.choice(["a", "b", "c"], n * length),
            "sex": np.repeat(rng.choice(["f", "m"], n), length),
        }
    )


def test_synthesizer_with_flags_keeps_the_contract_and_round_trips(tmp_path):
    df = frame_with_unmonitored_patients()
    synth = CDMTSynthesizer(ever_measured_flags=True, **TINY).fit(df, **ROLES)
    assert synth.layout_.ever_measured_values == (0,)
    out = synth.sample(6, steps=3, random_state=0)
    assert_output_contract(out, df, ROLES, 6)
    path = tmp_path / "model.cdmt"
    synth.save(path)
    loaded = CDMTSynthesizer.load(path)
    assert loaded.ever_measured_flags is True
    assert loaded.layout_ == synth.layout_
    assert loaded.sample(6, steps=3, random_state=0).equals(out)


def test_model_files_from_before_the_flags_load_without_them(tmp_path):
    df = frame_with_unmonitored_patients()
    synth = CDMTSynthesizer(**TINY).fit(df, **ROLES)
    expected = synth.sample(3, steps=2, random_state=0)
    path = tmp_path / "model.cdmt"
    synth.save(path)

    def as_before(manifest):  # as written before the flags existed
        del manifest["params"]["ever_measured_flags"], manifest["layout"]["ever_measured_values"]

    edit_manifest(path, as_before)
    loaded = CDMTSynthesizer.load(path)
    assert loaded.ever_measured_flags is False
    assert loaded.sample(3, steps=2, random_state=0).equals(expected)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_ever_measured_flags_must_be_a_bool(value):
    with pytest.raises(InvalidParameterError, match="ever_measured_flags"):
        CDMTSynthesizer(ever_measured_flags=value, **TINY).fit(
            frame_with_unmonitored_patients(), **ROLES
        )
