"""Time pooling in the denoiser network (BiGRUNetwork's pooled inputs and direct path)."""

import pickle

import numpy as np
import pytest
import torch
from model_files import assert_loads_as_before
from test_diffusion import make_cohort
from test_edge_cases import ROLES, TINY, assert_output_contract, cohort

from cdmtehr import CDMTSynthesizer
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.denoiser import Denoiser, categorical_frequencies, numeric_step_scales
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.diffusion.network import BiGRUNetwork, pooling_kernels
from cdmtehr.exceptions import InvalidParameterError


@pytest.mark.parametrize("length", [1, 2, 7, 48])
def test_pooling_kernels_are_averages_over_the_stay_the_past_and_the_future(length):
    kernels = pooling_kernels(length, half_life=2.0)
    assert kernels.shape == (3, length, length)
    torch.testing.assert_close(kernels.sum(-1), torch.ones(3, length))
    assert (kernels >= 0).all()
    stay, past, future = kernels
    torch.testing.assert_close(stay, torch.full((length, length), 1.0 / length))
    assert torch.equal(past, torch.tril(past))
    assert torch.equal(future, torch.triu(future))
    if length >= 3:
        # Half-life 2 steps: the step two back weighs half as much as the step itself.
        row = past[length - 1]
        torch.testing.assert_close(row[length - 3] / row[length - 1], torch.tensor(0.5))
        torch.testing.assert_close(future[0, 2] / future[0, 0], torch.tensor(0.5))


def network(pooled_inputs, smoothed_features, length=5, temporal_in=6):
    torch.manual_seed(0)
    return BiGRUNetwork(
        temporal_in=temporal_in,
        static_in=2,
        temporal_out=4,
        static_out=1,
        max_length=length,
        n_classes=0,
        hidden_size=8,
        num_layers=1,
        pooled_inputs=pooled_inputs,
        smoothed_features=smoothed_features,
    )


def network_inputs(batch=2, length=5):
    return (
        torch.randn(batch, length, 6),
        torch.randn(batch, 2),
        torch.zeros(batch),
        torch.zeros(batch, dtype=torch.long),
    )


def test_pooled_inputs_widen_the_gru_input_and_skip_weights_start_at_zero():
    plain, pooled = network(0, 0), network(3, 2)
    assert pooled.input_projection.in_features == plain.input_projection.in_features + 3 * 3
    *_, weights = pooled(*network_inputs())
    assert weights.shape == (2, 5, 3, 2)
    assert torch.equal(weights, torch.zeros_like(weights))
    assert plain(*network_inputs())[2] is None


@pytest.fixture
def layout():
    return StateLayout.from_cohort(make_cohort(length=6), embedding_dim=4)


def denoiser(layout, time_pooling):
    tensors = CohortTensors.from_cohort(make_cohort(length=6), layout)
    temporal_freq, static_freq = categorical_frequencies(tensors, layout)
    torch.manual_seed(0)
    return Denoiser(layout, 2, temporal_freq, static_freq, hidden_size=16, time_pooling=time_pooling)


def test_untrained_denoiser_with_time_pooling_keeps_the_plain_skip_connection(layout):
    model = denoiser(layout, True)
    x = torch.randn(3, layout.size)
    sigma = torch.full((layout.size,), 0.7)
    condition = torch.zeros(3, dtype=torch.long)
    n_values = layout.temporal.n_numeric
    temporal = model.predict(x, sigma, condition).temporal_values
    x_values = x[:, : layout.max_length * layout.temporal.width].unflatten(
        1, (layout.max_length, layout.temporal.width)
    )[..., :n_values]
    # Zero heads and zero skip weights: D = c_skip x (EDM with sigma_data = 1).
    torch.testing.assert_close(temporal, x_values / (0.7**2 + 1))


def test_skip_weight_one_on_the_stay_average_denoises_to_the_average(layout):
    model = denoiser(layout, True)
    n_values = layout.temporal.n_numeric
    with torch.no_grad():
        model.network.skip_weights.bias.view(3, n_values)[0] = 1.0
    x = torch.randn(3, layout.size)
    sigma = torch.full((layout.size,), 0.2)
    temporal = model.predict(x, sigma, torch.zeros(3, dtype=torch.long)).temporal_values
    x_values = x[:, : layout.max_length * layout.temporal.width].unflatten(
        1, (layout.max_length, layout.temporal.width)
    )[..., :n_values]
    # D = c_skip * (the stay's average): every step gets the same value.
    expected = x_values.mean(dim=1, keepdim=True).expand_as(x_values) / (0.2**2 + 1)
    torch.testing.assert_close(temporal, expected)


def test_networks_pickled_before_time_pooling_run_without_it():
    net = network(0, 0)
    state = net.__dict__.copy()
    # As pickled before these attributes existed.
    del state["pooled_inputs"], state["smoothed_features"], state["static_at_every_step"]
    old = BiGRUNetwork.__new__(BiGRUNetwork)
    old.__dict__.update(state)
    args = network_inputs()
    for new, previous in zip(net(*args)[:2], old(*args)[:2]):
        assert torch.equal(new, previous)
    assert old(*args)[2] is None


def test_synthesizer_with_time_pooling_keeps_the_contract_and_round_trips(tmp_path):
    df = cohort(n_patients=6, length=4)
    synth = CDMTSynthesizer(time_pooling=True, **TINY).fit(df, **ROLES)
    assert synth.model_.network.pooled_inputs == synth.layout_.temporal.width
    out = synth.sample(5, steps=3, random_state=0)
    assert_output_contract(out, df, ROLES, 5)
    path = tmp_path / "model.cdmt"
    synth.save(path)
    loaded = CDMTSynthesizer.load(path)
    assert loaded.time_pooling is True
    assert loaded.sample(5, steps=3, random_state=0).equals(out)
    assert pickle.loads(pickle.dumps(synth)).sample(5, steps=3, random_state=0).equals(out)
    plain = CDMTSynthesizer(time_pooling=False, **TINY).fit(df, **ROLES)
    assert not plain.sample(5, steps=3, random_state=0).equals(out)


def test_model_files_and_pickles_from_before_time_pooling_load_without_it(tmp_path):
    synth = CDMTSynthesizer(time_pooling=False, **TINY).fit(cohort(), **ROLES)

    def network_as_before(manifest):
        del manifest["network_size"]["time_pooling"]

    assert_loads_as_before(synth, tmp_path, "time_pooling", network_as_before)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_time_pooling_must_be_a_bool(value):
    with pytest.raises(InvalidParameterError, match="time_pooling"):
        CDMTSynthesizer(time_pooling=value, **TINY).fit(cohort(), **ROLES)


def test_pooling_kernels_can_leave_out_the_stay_average():
    both = pooling_kernels(6, half_life=3.0, kinds=("past", "future"))
    assert both.shape == (2, 6, 6)
    torch.testing.assert_close(both, pooling_kernels(6, half_life=3.0)[1:])
    with pytest.raises(KeyError):
        pooling_kernels(6, kinds=("median",))


def test_step_scales_measure_the_change_between_consecutive_measurements():
    cohort = make_cohort(n=3, length=6)
    cohort.lengths[:] = 6
    cohort.observed[:] = False
    # Channel 0: measured at steps 0, 2 and 5 with values 1, 3, 2 (forward filled between).
    cohort.observed[0, [0, 2, 5], 0] = True
    cohort.numeric[0, :, 0] = [1, 1, 3, 3, 3, 2]
    # Channel 1: a value charted at every step and never changing.
    cohort.observed[:, :, 1] = True
    cohort.numeric[:, :, 1] = 4.0
    # Channel 2: measured once per stay: no change to measure.
    cohort.observed[:, 3, 2] = True
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    scales = numeric_step_scales(CohortTensors.from_cohort(cohort, layout))
    # Changes +2 and -1: RMS sqrt(5/2), divided by sqrt 2.
    np.testing.assert_allclose(scales, [np.sqrt(5 / 4), 0.0, 0.0], rtol=1e-6)


def test_damping_fades_the_smoothing_below_each_values_own_changes(layout):
    n_values = layout.temporal.n_numeric
    scale = [0.5] * n_values
    plain = denoiser(layout, True)
    damped = Denoiser(
        layout, 2, *categorical_frequencies(
            CohortTensors.from_cohort(make_cohort(length=6), layout), layout
        ), hidden_size=16, time_pooling=True, smoothing_scale=scale,
    )
    damped.load_state_dict(plain.state_dict())
    for model in (plain, damped):
        with torch.no_grad():
            model.network.skip_weights.bias.view(3, n_values)[0] = 1.0
    x = torch.randn(2, layout.size)
    condition = torch.zeros(2, dtype=torch.long)

    def values(model, sigma):
        return model.predict(x, torch.full((layout.size,), sigma), condition).temporal_values

    x_values = x[:, : layout.max_length * layout.temporal.width].unflatten(
        1, (layout.max_length, layout.temporal.width)
    )[..., :n_values]
    for sigma in (0.05, 0.5, 5.0):
        c_skip = 1 / (sigma**2 + 1)
        weight = sigma**2 / (sigma**2 + 0.25)
        average = x_values.mean(dim=1, keepdim=True)
        expected = c_skip * (x_values + weight * (average - x_values))
        torch.testing.assert_close(values(damped, sigma), expected)
        torch.testing.assert_close(values(plain, sigma), c_skip * average.expand_as(x_values))
    assert damped.network_size["smoothing_scale"] == scale
