"""Mixed-precision training (``training_precision``): bfloat16 arithmetic, float32 the rest."""

import pytest
import torch
from model_files import assert_loads_as_before
from test_edge_cases import ROLES, TINY, cohort
from test_static_at_every_step import network
from test_time_pooling import network_inputs

from cdmtehr import CDMTSynthesizer, _parameters
from cdmtehr._parameters import resolve_training_dtype
from cdmtehr.exceptions import InvalidParameterError

CPU = torch.device("cpu")


def test_autocast_network_computes_in_bfloat16_and_answers_in_float32():
    net = network(False)
    inputs = network_inputs()
    exact = net(*inputs)[0]
    net.autocast_dtype = torch.bfloat16
    mixed = net(*inputs)[0]
    assert mixed.dtype == torch.float32
    assert not torch.equal(mixed, exact)  # the arithmetic did change...
    torch.testing.assert_close(mixed, exact, atol=0.05, rtol=0.05)  # ...to bfloat16's precision


def test_precision_options_resolve_to_an_autocast_dtype(monkeypatch):
    assert resolve_training_dtype("float32", CPU) is None
    assert resolve_training_dtype("bfloat16", CPU) is torch.bfloat16
    monkeypatch.setattr(_parameters, "cpu_computes_bfloat16", lambda: True)
    monkeypatch.setattr(_parameters, "cpu_has_matrix_tiles", lambda: True)
    assert resolve_training_dtype("auto", CPU) is torch.bfloat16
    assert resolve_training_dtype("auto", torch.device("cuda")) is None  # not measured there
    # AVX-512 BF16 without AMX tiles trained slower in bfloat16 than in float32.
    monkeypatch.setattr(_parameters, "cpu_has_matrix_tiles", lambda: False)
    assert resolve_training_dtype("auto", CPU) is None
    assert resolve_training_dtype("bfloat16", CPU) is torch.bfloat16  # asked for: given
    monkeypatch.setattr(_parameters, "cpu_has_matrix_tiles", lambda: True)
    monkeypatch.setattr(_parameters, "cpu_computes_bfloat16", lambda: False)
    assert resolve_training_dtype("auto", CPU) is None


def test_matrix_tile_check_answers_a_bool_on_any_cpu():
    assert isinstance(_parameters.cpu_has_matrix_tiles(), bool)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_fit_in_either_precision_samples_in_float32_and_is_reproducible(precision):
    df = cohort(n_patients=12, length=4)
    first = CDMTSynthesizer(**TINY, training_precision=precision).fit(df, **ROLES)
    second = CDMTSynthesizer(**TINY, training_precision=precision).fit(df, **ROLES)
    assert first.training_dtype_ == precision
    assert first.model_.network.autocast_dtype is None  # sampling is float32
    for a, b in zip(first.model_.state_dict().values(), second.model_.state_dict().values()):
        assert a.dtype == torch.float32 and torch.equal(a, b)
    assert first.sample(5, random_state=0).equals(second.sample(5, random_state=0))


def test_bfloat16_training_changes_the_weights_only_slightly():
    df = cohort(n_patients=12, length=4)
    exact = CDMTSynthesizer(**TINY, training_precision="float32").fit(df, **ROLES)
    mixed = CDMTSynthesizer(**TINY, training_precision="bfloat16").fit(df, **ROLES)
    exact_weights, mixed_weights = exact.model_.state_dict(), mixed.model_.state_dict()
    differs = [not torch.equal(exact_weights[k], mixed_weights[k]) for k in exact_weights]
    assert any(differs)
    for name, weight in exact_weights.items():
        torch.testing.assert_close(mixed_weights[name], weight, atol=0.02, rtol=0.05)


def test_precision_is_saved_and_files_from_before_it_load_as_float32(tmp_path):
    df = cohort(n_patients=12, length=4)
    mixed = CDMTSynthesizer(**TINY, training_precision="bfloat16").fit(df, **ROLES)
    mixed.save(tmp_path / "mixed.cdmt")
    loaded = CDMTSynthesizer.load(tmp_path / "mixed.cdmt")
    assert loaded.training_precision == "bfloat16" and loaded.training_dtype_ == "bfloat16"
    exact = CDMTSynthesizer(**TINY, training_precision="float32").fit(df, **ROLES)

    def without_fitted_dtype(manifest):
        items = manifest["fitted"]["__items__"]
        items[:] = [item for item in items if item[0] != "training_dtype_"]

    assert_loads_as_before(
        exact, tmp_path, "training_precision", edit=without_fitted_dtype, old_value="float32"
    )
    assert CDMTSynthesizer.load(tmp_path / "model.cdmt").training_dtype_ == "float32"


@pytest.mark.parametrize("value", ["float16", "bf16", True])
def test_training_precision_must_be_a_known_option(value):
    with pytest.raises(InvalidParameterError, match="training_precision"):
        CDMTSynthesizer(**TINY, training_precision=value).fit(cohort(), **ROLES)
