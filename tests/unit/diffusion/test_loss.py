"""The diffusion loss: padding and filled cells left out, every term finite and named."""

import torch

from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.loss import (
    LOW_NOISE_SHARE,
    LOW_NOISE_SPAN,
    diffusion_loss,
    training_times,
)
from cdmtehr.diffusion.schedule import FactorizedSchedule


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


def test_training_times_spend_a_share_of_the_batch_at_low_noise():
    u = training_times(20_000, torch.Generator().manual_seed(0))
    assert ((u >= 0) & (u < 1)).all()
    low = (u < LOW_NOISE_SPAN).float().mean().item()
    # the low share, plus the uniform times of the rest that fall there anyway
    expected = LOW_NOISE_SHARE + (1 - LOW_NOISE_SHARE) * LOW_NOISE_SPAN
    assert abs(low - expected) < 0.01
    above = u[u >= LOW_NOISE_SPAN]
    assert abs(above.mean().item() - (1 + LOW_NOISE_SPAN) / 2) < 0.01  # uniform above the span
    again = training_times(20_000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(u, again)
