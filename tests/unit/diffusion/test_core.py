"""Unit tests of the diffusion core: layout, embeddings, schedule, denoiser, loss, training."""

import numpy as np
import pytest
import torch
from helpers.encoded import make_cohort, make_denoiser

from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.build import categorical_frequencies
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.diffusion.loss import diffusion_loss
from cdmtehr.diffusion.schedule import (
    SIGMA_MAX_CATEGORICAL,
    SIGMA_MAX_NUMERIC,
    SIGMA_MIN,
    EDMSchedule,
    FactorizedSchedule,
)
from cdmtehr.diffusion.training import TrainingConfig, train


@pytest.fixture
def parts():
    cohort = make_cohort()
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    tensors = CohortTensors.from_cohort(cohort, layout)
    return cohort, layout, tensors, make_denoiser(layout, tensors)


def test_layout_counts_masks_only_where_values_go_missing(parts):
    cohort, layout, _, _ = parts
    # Channel 1 is always observed inside stays: no mask feature for it.
    assert layout.masked_values == (0, 2)
    assert layout.masked_static_values == (0,)
    assert layout.has_validity  # lengths vary
    # 3 values + 2 masks (d=2) + 1 column of 3 levels (d=4) + validity (d=2)
    assert layout.temporal.width == 3 + 2 * 2 + 4 + 2
    assert layout.size == cohort.max_length * layout.temporal.width + layout.static.width
    assert StateLayout.from_dict(layout.to_dict()) == layout


def test_clean_state_decodes_back_to_the_cohort(parts):
    cohort, layout, tensors, denoiser = parts
    decoded = denoiser.decode(denoiser.clean_state(tensors))
    valid = cohort.length_mask()
    np.testing.assert_array_equal(decoded["lengths"], cohort.lengths)
    np.testing.assert_array_equal(decoded["categorical"][valid], cohort.categorical[valid])
    np.testing.assert_array_equal(decoded["observed"][valid], cohort.observed[valid])
    np.testing.assert_allclose(decoded["numeric"], cohort.numeric, rtol=1e-6)
    np.testing.assert_array_equal(decoded["static_categorical"], cohort.static_categorical)
    np.testing.assert_array_equal(decoded["static_observed"], cohort.static_observed)


def test_embeddings_are_normalised_and_interpolation_of_one_hot_is_exact(parts):
    _, layout, tensors, denoiser = parts
    embedding = denoiser.temporal_embedding
    for table in embedding.normalized_tables():
        norms = table.norm(dim=-1)
        torch.testing.assert_close(norms, torch.full_like(norms, table.shape[-1] ** 0.5))
    codes = tensors.codes[:5]
    one_hot_logits = []
    for index, group in enumerate(layout.temporal.groups):
        members = [j - layout.temporal.n_numeric for j in group.feature_index]
        logits = torch.nn.functional.one_hot(codes[..., members], group.max_levels).float()
        one_hot_logits.append((logits * 1e4).flatten(-2))
    flat = torch.cat(one_hot_logits, dim=-1)
    torch.testing.assert_close(embedding.interpolate(flat), embedding.embed(codes))


@pytest.mark.parametrize("schedule_class", [FactorizedSchedule, EDMSchedule])
def test_schedule_is_monotone_and_hits_its_bounds(parts, schedule_class):
    _, layout, _, _ = parts
    schedule = schedule_class(layout)
    if schedule_class is FactorizedSchedule:
        with torch.no_grad():  # a non-trivial learned state
            for p in schedule.parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    u = torch.linspace(1e-4, 1 - 1e-4, 200)
    sigma = schedule.sigma(u)
    assert sigma.shape == (200, layout.n_features)
    assert (sigma.diff(dim=0) >= 0).all()
    grid = schedule.sigma_grid(7)
    assert grid.shape == (8, layout.n_features)
    assert (grid.diff(dim=0) <= 0).all()
    assert (grid[-1] == 0).all()
    categorical = torch.as_tensor(layout.feature_is_categorical())
    expected_max = torch.where(categorical, SIGMA_MAX_CATEGORICAL, SIGMA_MAX_NUMERIC).double()
    torch.testing.assert_close(grid[0], expected_max)
    assert torch.all(schedule.sigma(torch.tensor([1e-6])) < SIGMA_MIN * 1.5 + 1e-3)


def test_factorized_schedule_has_feature_plus_step_parameters(parts):
    _, layout, _, _ = parts
    schedule = FactorizedSchedule(layout)
    n_params = sum(p.numel() for p in schedule.parameters())
    n_features = layout.temporal.n_features + layout.static.n_features
    assert n_params == 3 * (n_features + layout.max_length + 1) + 3
    with torch.no_grad():
        schedule.position_terms[0, 2] += 2.0  # move mu of time step 2 only
    sigma = schedule.sigma(torch.tensor([0.5]))[0]
    temporal = sigma[: layout.max_length * layout.temporal.n_features].view(layout.max_length, -1)
    base = FactorizedSchedule(layout).sigma(torch.tensor([0.5]))[0]
    base_temporal = base[: temporal.numel()].view_as(temporal)
    changed = ~torch.isclose(temporal, base_temporal)
    assert changed[2].all() and not changed[[0, 1, 3]].any()


def test_untrained_denoiser_is_preconditioned_identity_at_low_noise(parts):
    _, layout, tensors, denoiser = parts
    x0 = denoiser.clean_state(tensors).detach()
    condition = tensors.condition
    tiny = torch.full((layout.size,), 1e-4)
    out = denoiser.predict(x0, tiny, condition)
    # Zero-initialised heads: numeric D = c_skip x, which tends to x as sigma -> 0.
    torch.testing.assert_close(out.temporal_values, tensors.values, atol=1e-6, rtol=1e-6)
    large = torch.full((layout.size,), 50.0)
    out = denoiser.predict(x0, large, condition)
    torch.testing.assert_close(out.temporal_values, tensors.values / (1 + 50.0**2), atol=1e-6, rtol=1e-4)


def test_logit_biases_start_at_the_marginals(parts):
    _, layout, tensors, denoiser = parts
    x = torch.zeros(3, layout.size)
    out = denoiser.predict(x, torch.full((layout.size,), 80.0), tensors.condition[:3])
    temporal_freq, _ = categorical_frequencies(tensors, layout)
    group = layout.temporal.groups[1]  # the 3-level column
    group_logits = denoiser.temporal_embedding.split_logits(out.temporal_logits)
    probs = torch.softmax(group_logits[1][0, 0, 0], -1).detach().numpy()
    np.testing.assert_allclose(probs, temporal_freq[group.feature_index[0] - 3], atol=1e-3)


def test_loss_ignores_padding_and_filled_cells_with_zero_fill_weight(parts):
    cohort, layout, tensors, denoiser = parts
    schedule = FactorizedSchedule(layout)

    def loss(batch, **kwargs):
        return diffusion_loss(
            denoiser, schedule, batch, torch.Generator().manual_seed(5), **kwargs
        )["diffusion"]

    changed = CohortTensors(**vars(tensors))
    values = tensors.values.clone()
    values[~tensors.valid] = 123.0  # padding
    changed.values = values
    torch.testing.assert_close(loss(tensors), loss(changed))
    values = values.clone()
    values[~tensors.observed] = -55.0  # unobserved (filled) cells
    changed.values = values
    torch.testing.assert_close(loss(tensors, fill_weight=0.0), loss(changed, fill_weight=0.0))
    assert not torch.isclose(loss(tensors), loss(changed))


def test_loss_terms_are_finite_and_named(parts):
    _, layout, tensors, denoiser = parts
    terms = diffusion_loss(denoiser, FactorizedSchedule(layout), tensors, torch.Generator())
    assert set(terms) == {"diffusion", "schedule", "total", "per_feature"}
    assert terms["per_feature"].shape == (layout.temporal.n_features + layout.static.n_features,)
    assert all(torch.isfinite(v).all() for v in terms.values())


def _train(layout, tensors, seed, epochs=30):
    denoiser = make_denoiser(layout, tensors, seed)
    schedule = FactorizedSchedule(layout)
    generator = torch.Generator().manual_seed(seed)
    config = TrainingConfig(epochs=epochs, batch_size=16)
    return train(denoiser, schedule, tensors, config, generator=generator)


def test_training_lowers_the_loss_and_is_deterministic(parts):
    _, layout, tensors, _ = parts
    ema, history = _train(layout, tensors, seed=0)
    assert history[-1]["diffusion"] < history[0]["diffusion"]
    ema_again, _ = _train(layout, tensors, seed=0)
    for a, b in zip(ema.state_dict().values(), ema_again.state_dict().values()):
        assert torch.equal(a, b)


def test_training_stops_at_max_time(parts):
    _, layout, tensors, denoiser = parts
    _, history = train(
        denoiser,
        FactorizedSchedule(layout),
        tensors,
        TrainingConfig(max_time=0.5, batch_size=8),
        generator=torch.Generator().manual_seed(0),
    )
    assert 0.5 <= history[-1]["seconds"] < 30


def test_training_needs_a_budget():
    with pytest.raises(ValueError, match="epochs or max_time"):
        TrainingConfig()


def test_learning_rate_warms_up_then_decays_to_a_tenth_over_the_budget():
    from cdmtehr.diffusion.training import _Budget

    budget = _Budget(TrainingConfig(epochs=10, batch_size=10, warmup_steps=4), 100, 1)
    assert budget.total_steps == 100
    factors = [budget.learning_rate_factor(step) for step in (0, 3, 50, 100, 200)]
    assert factors[0] == pytest.approx(0.25, rel=1e-3)  # a quarter of the warm-up
    assert factors[1] == pytest.approx(1.0, abs=0.01)  # warmed up, barely decayed
    assert factors[2] == pytest.approx(0.55, rel=1e-3)  # half way: cosine at 1/2
    assert factors[3] == factors[4] == pytest.approx(0.1)
