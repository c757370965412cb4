"""DP-SGD: Opacus' accounting, per-patient gradients, Poisson sampling, planned steps."""

import math

import pytest
import torch

opacus = pytest.importorskip("opacus")

from helpers.encoded import make_denoiser  # noqa: E402
from opacus.accountants import RDPAccountant  # noqa: E402

from cdmtehr.diffusion.loss import loss_terms  # noqa: E402
from cdmtehr.diffusion.private import (  # noqa: E402
    RDP_ORDERS,
    PrivacyBudget,
    _PrivateStep,
    choose_noise_multiplier,
    plan_steps,
    spent_epsilon,
    train_private,
)
from cdmtehr.diffusion.schedule import FactorizedSchedule  # noqa: E402
from cdmtehr.diffusion.training import TrainingConfig  # noqa: E402


def test_spent_epsilon_is_opacus_accountant_stepped_one_step_at_a_time():
    accountant = RDPAccountant()
    for _ in range(300):
        accountant.step(noise_multiplier=1.1, sample_rate=0.05)
    expected = accountant.get_epsilon(1e-5, alphas=RDP_ORDERS)
    assert spent_epsilon(1.1, 0.05, 300, 1e-5) == pytest.approx(expected, rel=1e-9)
    # More Renyi orders than Opacus' defaults can only tighten the bound.
    assert spent_epsilon(1.1, 0.05, 300, 1e-5) <= accountant.get_epsilon(1e-5) + 1e-9


def test_spent_epsilon_of_a_known_setting():
    # Abadi et al. (2016): q = 0.01, sigma = 4, 10,000 steps, delta = 1e-5 is about
    # epsilon 1.26 by their moments accountant; the RDP bound is tighter, about 1.04.
    assert spent_epsilon(4.0, 0.01, 10_000, 1e-5) == pytest.approx(1.035, abs=0.01)
    assert spent_epsilon(4.0, 0.01, 0, 1e-5) == 0.0


@pytest.mark.parametrize("epsilon", [1.0, 3.0, 10.0])
def test_the_noise_multiplier_spends_at_most_the_target(epsilon):
    budget = PrivacyBudget(epsilon, 1e-5, 1.0)
    sigma = choose_noise_multiplier(budget, 0.1, 200)
    spent = spent_epsilon(sigma, 0.1, 200, 1e-5)
    assert spent <= epsilon and spent > 0.95 * epsilon


def test_plan_steps_takes_the_smaller_of_epochs_and_seconds():
    config = TrainingConfig(epochs=3, max_time=10.0, batch_size=16)
    assert plan_steps(config, 160, 0.1) == 30  # 3 epochs of 1 / q = 10 steps
    assert plan_steps(config, 160, 0.1, seconds_per_step=1.0, seconds_left=7.5) == 7
    assert plan_steps(config, 160, 0.1, seconds_per_step=1.0, seconds_left=-1.0) == 1


def _step(layout, tensors, noise_multiplier=0.0, max_grad_norm=1e6):
    denoiser = make_denoiser(layout, tensors)
    schedule = FactorizedSchedule(layout)
    ema = make_denoiser(layout, tensors).requires_grad_(False)
    config = TrainingConfig(epochs=1, batch_size=8, guidance_dropout=0.0)
    budget = PrivacyBudget(1.0, 1e-5, max_grad_norm)
    step = _PrivateStep(denoiser, schedule, ema, config, budget, 0.2, noise_multiplier,
                        len(tensors), torch.Generator().manual_seed(0))
    return step, denoiser, schedule


def test_per_patient_gradients_are_those_of_each_patient_alone(parts):
    _, layout, tensors, _ = parts
    step, denoiser, schedule = _step(layout, tensors)
    batch = tensors.index(torch.arange(3), trim=False)  # as a Poisson sample is padded
    generator = torch.Generator().manual_seed(1)
    u = torch.rand(3, generator=generator)
    noise = torch.randn((3, layout.size), generator=generator)
    drop = torch.zeros(3, dtype=torch.bool)
    params = {k: p.detach() for k, p in zip(step.names, step.parameters, strict=True)}
    fields = tuple(getattr(batch, f) for f in batch.__dataclass_fields__)
    denoiser.network.unrolled = True
    grads, _ = step.per_patient(params, fields, u, noise, drop)
    denoiser.network.unrolled = False
    for i in range(3):
        one = batch.index(torch.tensor([i]), trim=False)
        terms = loss_terms(denoiser, schedule, one, u[i : i + 1], noise[i : i + 1], drop[i : i + 1])
        expected = torch.autograd.grad(terms["total"], step.parameters, allow_unused=True)
        for name, g in zip(step.names, expected, strict=True):
            g = torch.zeros_like(grads[name][i]) if g is None else g
            torch.testing.assert_close(grads[name][i], g, rtol=1e-3, atol=1e-6)
    # The learnable schedule is trained on the patients too, so it is privatised.
    assert any(name.startswith("schedule.") for name in step.names)


def test_each_patient_is_clipped_and_an_empty_sample_still_steps(parts):
    _, layout, tensors, _ = parts
    step, denoiser, _ = _step(layout, tensors, max_grad_norm=1e-3)
    before = [p.detach().clone() for p in step.parameters]
    step(tensors.index(torch.arange(0)), learning_rate=1e-2, step=0)  # noise only (here 0)
    step(tensors.index(torch.arange(5)), learning_rate=1e-2, step=1)
    assert all(p.grad is not None for p in step.parameters)
    # Five clipped gradients over an expected batch of 8: the mean has norm <= 5/8 * C.
    norm = math.sqrt(sum(float((p.grad**2).sum()) for p in step.parameters))
    assert norm <= 5 / 8 * 1e-3 + 1e-9
    assert any(not torch.equal(a, b) for a, b in zip(before, step.parameters, strict=True))


def test_poisson_sampling_draws_each_patient_with_probability_q(parts):
    _, layout, tensors, _ = parts
    step, _, _ = _step(layout, tensors)
    sizes = [len(step.sample(tensors)) for _ in range(200)]
    assert sum(sizes) / len(sizes) == pytest.approx(0.2 * len(tensors), rel=0.1)
    assert len(set(sizes)) > 3  # the batch size itself is random


def test_train_private_spends_at_most_the_target_and_records_it(parts):
    _, layout, tensors, _ = parts
    denoiser = make_denoiser(layout, tensors)
    config = TrainingConfig(epochs=2, batch_size=8)
    budget = PrivacyBudget(2.0, 1e-3, 1.0)
    generator = torch.Generator().manual_seed(0)
    _, history, spent = train_private(denoiser, FactorizedSchedule(layout), tensors, config,
                                      budget, generator=generator)
    assert spent.steps == spent.planned_steps == 10  # 2 epochs of 1 / q = 5 steps
    assert 0 < spent.epsilon <= 2.0
    epsilons = [record["epsilon"] for record in history]
    assert epsilons == sorted(epsilons) and epsilons[-1] == pytest.approx(spent.epsilon)
