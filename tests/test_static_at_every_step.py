"""The static state fed to the GRU at every time step (``static_at_every_step``)."""

import pytest
import torch
from model_files import assert_loads_as_before
from test_edge_cases import ROLES, TINY, cohort
from test_time_pooling import network_inputs

from cdmtehr import CDMTSynthesizer
from cdmtehr.diffusion.network import BiGRUNetwork
from cdmtehr.exceptions import InvalidParameterError


def network(static_at_every_step):
    torch.manual_seed(0)
    net = BiGRUNetwork(
        temporal_in=6,
        static_in=2,
        temporal_out=4,
        static_out=1,
        max_length=5,
        n_classes=0,
        hidden_size=8,
        num_layers=1,
        static_at_every_step=static_at_every_step,
    )
    # Heads start at zero; give the temporal one weights so that its output shows the inputs.
    torch.nn.init.normal_(net.temporal_head.weight)
    return net


@pytest.mark.parametrize("static_at_every_step", [False, True])
def test_static_state_reaches_every_step_only_when_asked(static_at_every_step):
    net = network(static_at_every_step)
    plain_width = network(False).input_projection.in_features
    assert net.input_projection.in_features == plain_width + 2 * static_at_every_step
    temporal, static, noise, condition = network_inputs()
    before = net(temporal, static, noise, condition)[0]
    after = net(temporal, static + 1.0, noise, condition)[0]
    # The FiLM layers start at zero, so at initialisation the static state moves the
    # temporal outputs only through the inputs of each step.
    assert torch.equal(before, after) is not static_at_every_step


def test_model_files_and_pickles_from_before_the_parameter_load_without_it(tmp_path):
    synth = CDMTSynthesizer(static_at_every_step=False, **TINY).fit(cohort(), **ROLES)
    assert "static_at_every_step" not in synth.model_.network_size
    assert_loads_as_before(synth, tmp_path, "static_at_every_step")


def test_the_default_model_saves_and_loads_with_static_inputs_at_every_step(tmp_path):
    synth = CDMTSynthesizer(**TINY).fit(cohort(), **ROLES)
    assert synth.model_.network.static_at_every_step
    path = tmp_path / "model.cdmt"
    synth.save(path)
    loaded = CDMTSynthesizer.load(path)
    assert loaded.model_.network.static_at_every_step
    expected = synth.sample(3, steps=2, random_state=0)
    assert loaded.sample(3, steps=2, random_state=0).equals(expected)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_static_at_every_step_must_be_a_bool(value):
    with pytest.raises(InvalidParameterError, match="static_at_every_step"):
        CDMTSynthesizer(static_at_every_step=value).fit(cohort(), **ROLES)
