"""The denoiser's network: averages along time, static inputs at every step, smoothed skip."""

import dataclasses

import pytest
import torch
from helpers.encoded import make_cohort

from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.build import build_denoiser, denoiser_config
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.diffusion.network import BiGRUNetwork, pooling_kernels


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


def network(pooled_inputs=3, smoothed_features=2, length=5, temporal_in=6):
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


def test_pooled_and_static_inputs_widen_the_gru_input_and_skip_weights_start_at_zero():
    net = network(pooled_inputs=3, smoothed_features=2)
    # 6 raw inputs, 3 kernels x 3 pooled inputs, 2 static inputs.
    assert net.input_projection.in_features == 6 + 3 * 3 + 2
    *_, weights = net(*network_inputs())
    assert weights.shape == (2, 5, 3, 2)
    assert torch.equal(weights, torch.zeros_like(weights))


def test_a_state_without_numeric_values_has_no_skip_weights():
    *_, weights = network(pooled_inputs=0, smoothed_features=0)(*network_inputs())
    assert weights.shape == (2, 5, 3, 0)


def test_the_static_state_reaches_every_step():
    net = network()
    # Heads start at zero; give the temporal one weights so that its output shows the inputs.
    torch.nn.init.normal_(net.temporal_head.weight)
    temporal, static, noise, condition = network_inputs()
    # The FiLM layers start at zero, so at initialisation the static state moves the
    # temporal outputs only through the inputs of each step.
    assert not torch.equal(
        net(temporal, static, noise, condition)[0], net(temporal, static + 1.0, noise, condition)[0]
    )


@pytest.fixture
def layout():
    return StateLayout.from_cohort(make_cohort(length=6), embedding_dim=4)


def denoiser(layout, smoothing_scale=None):
    """An untrained denoiser (the same weights every time); no damping by default."""
    tensors = CohortTensors.from_cohort(make_cohort(length=6), layout)
    config = denoiser_config(tensors, layout, n_classes=2, hidden_size=16, num_layers=1)
    scale = [0.0] * layout.temporal.n_numeric if smoothing_scale is None else smoothing_scale
    config = dataclasses.replace(config, smoothing_scale=scale)
    return build_denoiser(layout, config, torch.Generator().manual_seed(0))


def _temporal_values(layout, x):
    n_values = layout.temporal.n_numeric
    return x[:, : layout.max_length * layout.temporal.width].unflatten(
        1, (layout.max_length, layout.temporal.width)
    )[..., :n_values]


def test_untrained_denoiser_keeps_the_plain_skip_connection(layout):
    model = denoiser(layout)
    x = torch.randn(3, layout.size)
    sigma = torch.full((layout.size,), 0.7)
    temporal = model.predict(x, sigma, torch.zeros(3, dtype=torch.long)).temporal_values
    # Zero heads and zero skip weights: D = c_skip x (EDM with sigma_data = 1).
    torch.testing.assert_close(temporal, _temporal_values(layout, x) / (0.7**2 + 1))


def test_skip_weight_one_on_the_stay_average_denoises_to_the_average(layout):
    model = denoiser(layout)
    n_values = layout.temporal.n_numeric
    with torch.no_grad():
        model.network.skip_weights.bias.view(3, n_values)[0] = 1.0
    x = torch.randn(3, layout.size)
    sigma = torch.full((layout.size,), 0.2)
    temporal = model.predict(x, sigma, torch.zeros(3, dtype=torch.long)).temporal_values
    x_values = _temporal_values(layout, x)
    # D = c_skip * (the stay's average): every step gets the same value.
    expected = x_values.mean(dim=1, keepdim=True).expand_as(x_values) / (0.2**2 + 1)
    torch.testing.assert_close(temporal, expected)


def test_damping_fades_the_smoothing_below_each_values_own_changes(layout):
    n_values = layout.temporal.n_numeric
    plain, damped = denoiser(layout), denoiser(layout, [0.5] * n_values)
    for model in (plain, damped):
        with torch.no_grad():
            model.network.skip_weights.bias.view(3, n_values)[0] = 1.0
    x = torch.randn(2, layout.size)
    condition = torch.zeros(2, dtype=torch.long)

    def values(model, sigma):
        return model.predict(x, torch.full((layout.size,), sigma), condition).temporal_values

    x_values = _temporal_values(layout, x)
    for sigma in (0.05, 0.5, 5.0):
        c_skip = 1 / (sigma**2 + 1)
        weight = sigma**2 / (sigma**2 + 0.25)
        average = x_values.mean(dim=1, keepdim=True)
        expected = c_skip * (x_values + weight * (average - x_values))
        torch.testing.assert_close(values(damped, sigma), expected)
        torch.testing.assert_close(values(plain, sigma), c_skip * average.expand_as(x_values))
