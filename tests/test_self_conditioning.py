"""Self-conditioning (``self_conditioning``): the denoiser reads its own previous estimate."""

import pickle

import numpy as np
import pytest
import torch
from model_files import assert_loads_as_before
from test_diffusion import make_cohort
from test_edge_cases import ROLES, TINY, cohort

from cdmtehr import CDMTSynthesizer
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.denoiser import Denoiser, categorical_frequencies
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.diffusion.loss import diffusion_loss, self_conditioning_estimate
from cdmtehr.exceptions import InvalidParameterError
from cdmtehr.sampling import classifier_free_guidance, sample_euler, self_conditioned


def parts(self_conditioning):
    data = make_cohort()
    layout = StateLayout.from_cohort(data, embedding_dim=4)
    tensors = CohortTensors.from_cohort(data, layout)
    temporal_freq, static_freq = categorical_frequencies(tensors, layout)
    torch.manual_seed(0)
    model = Denoiser(
        layout, 2, temporal_freq, static_freq, hidden_size=16,
        static_at_every_step=True, self_conditioning=self_conditioning,
    )
    # Heads start at zero; give them weights so that the outputs show the inputs.
    torch.nn.init.normal_(model.network.temporal_head.weight, std=0.1)
    torch.nn.init.normal_(model.network.static_head[-1].weight, std=0.1)
    return layout, tensors, model.eval()


def noisy_state(layout, batch=3, sigma=1.0):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn((batch, layout.size), generator=generator) * sigma
    return x, torch.full((layout.size,), sigma), torch.zeros(batch, dtype=torch.long)


def test_the_estimate_widens_the_inputs_and_reaches_the_output():
    layout, _, plain = parts(False)
    _, _, model = parts(True)
    extra = model.network.input_projection.in_features - plain.network.input_projection.in_features
    # The estimate of the temporal block at every step, and of the static block (at every
    # step too, next to the static inputs).
    assert extra == layout.temporal.width + layout.static.width
    assert model.network.static_projection.in_features == (
        plain.network.static_projection.in_features + layout.static.width
    )
    x, sigma, condition = noisy_state(layout)
    estimate = torch.randn_like(x)
    with torch.no_grad():
        nothing = model(x, sigma, condition)
        zeros = model(x, sigma, condition, torch.zeros_like(x))
        informed = model(x, sigma, condition, estimate)
        # Without self-conditioning an estimate is ignored.
        assert torch.equal(plain(x, sigma, condition), plain(x, sigma, condition, estimate))
    assert torch.equal(nothing, zeros)  # "no estimate yet" is the zero estimate
    assert not torch.allclose(informed, zeros)


def test_training_predicts_the_estimate_first_on_about_half_the_steps():
    layout, tensors, model = parts(True)
    x, sigma, condition = noisy_state(layout, batch=len(tensors))
    generator = torch.Generator().manual_seed(0)
    estimates = [
        self_conditioning_estimate(model, x, sigma, condition, generator) for _ in range(200)
    ]
    given = [e for e in estimates if e is not None]
    assert 70 < len(given) < 130
    with torch.no_grad():
        expected = model(x, sigma, condition)
    for estimate in given[:3]:
        assert not estimate.requires_grad
        torch.testing.assert_close(estimate, expected)


def test_the_loss_trains_the_estimate_inputs():
    layout, tensors, model = parts(True)
    model.train()
    from cdmtehr.diffusion.schedule import make_schedule

    schedule = make_schedule("factorized", layout)
    weights = model.network.input_projection.weight
    # A step's inputs: its noisy state, its noise levels, then the estimate of its state.
    start = layout.temporal.width + layout.temporal.n_features
    estimate_columns = slice(start, start + layout.temporal.width)
    generator = torch.Generator().manual_seed(3)
    grads = []
    for _ in range(6):
        model.zero_grad()
        diffusion_loss(model, schedule, tensors, generator)["total"].backward()
        grads.append(weights.grad[:, estimate_columns].abs().sum().item())
    # The estimate's weights learn on the steps that have one and get no gradient without.
    assert any(g > 0 for g in grads) and any(g == 0 for g in grads)


def test_sampling_hands_each_step_the_previous_output():
    seen, outputs = [], []

    def recording(x, sigma, condition, estimate=None):
        seen.append(estimate)
        out = x * 0.5 + 0.1 * len(seen)
        outputs.append(out)
        return out

    x = torch.randn(4, 6)
    sigmas = torch.linspace(3.0, 0.0, 5)[:, None].expand(5, 6)
    sample_euler(self_conditioned(recording), x, sigmas, condition=torch.zeros(4).long())
    assert seen[0] is None
    for estimate, previous in zip(seen[1:], outputs[:-1]):
        assert torch.equal(estimate, previous)


def test_under_guidance_each_branch_keeps_its_own_estimate():
    seen = []

    def recording(x, sigma, condition, estimate=None):
        seen.append((condition.clone(), estimate))
        return x + condition[:, None].double()

    guided = classifier_free_guidance(self_conditioned(recording), 2.0, null_class=2)
    x = torch.zeros(3, 4, dtype=torch.float64)
    condition = torch.tensor([0, 1, 1])
    first = guided(x, torch.ones(4), condition)
    guided(first, torch.ones(4), condition)
    (_, none), (both, estimate) = seen
    assert none is None
    assert torch.equal(both, torch.tensor([0, 1, 1, 2, 2, 2]))
    # The estimate of the second call is the first call's output of each branch, not the
    # guided mix.
    torch.testing.assert_close(estimate, torch.cat([x, x]) + both[:, None].double())


def conditional_cohort():
    df = cohort(n_patients=12, length=4)
    df["died"] = (df["pid"] % 3 == 0).astype(int)
    return df, {**ROLES, "condition_col": "died"}


def test_fit_is_reproducible_and_survives_save_load_and_pickle(tmp_path):
    df, roles = conditional_cohort()
    before = df.copy()
    first = CDMTSynthesizer(**TINY, self_conditioning=True).fit(df, **roles)
    second = CDMTSynthesizer(**TINY, self_conditioning=True).fit(df, **roles)
    assert df.equals(before)
    assert first.model_.self_conditioning
    expected = first.sample(7, random_state=0)
    assert expected.equals(second.sample(7, random_state=0))
    guided = first.sample(7, condition=1, guidance_scale=3.0, random_state=0)
    assert (guided.groupby("pid")["died"].first() == 1).all()
    path = tmp_path / "model.cdmt"
    first.save(path)
    assert CDMTSynthesizer.load(path).sample(7, random_state=0).equals(expected)
    assert pickle.loads(pickle.dumps(first)).sample(7, random_state=0).equals(expected)


def test_self_conditioning_changes_the_model():
    df, roles = conditional_cohort()
    plain = CDMTSynthesizer(**TINY).fit(df, **roles)
    conditioned = CDMTSynthesizer(**TINY, self_conditioning=True).fit(df, **roles)
    a = plain.sample(7, random_state=0)["x"].to_numpy()
    b = conditioned.sample(7, random_state=0)["x"].to_numpy()
    assert not np.array_equal(a, b, equal_nan=True)


def test_model_files_and_pickles_from_before_the_parameter_load_without_it(tmp_path):
    synth = CDMTSynthesizer(self_conditioning=False, **TINY).fit(cohort(), **ROLES)
    assert "self_conditioning" not in synth.model_.network_size
    assert_loads_as_before(synth, tmp_path, "self_conditioning")


def test_a_bad_value_is_refused_before_training():
    with pytest.raises(InvalidParameterError, match="self_conditioning"):
        CDMTSynthesizer(**TINY, self_conditioning="yes").fit(cohort(), **ROLES)
