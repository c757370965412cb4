"""Diffusion noise correlated along time (cdmtehr.diffusion.noise) and its use end to end."""

import numpy as np
import pytest
import torch
from model_files import edit_manifest
from test_diffusion import make_cohort
from test_edge_cases import ROLES, TINY, assert_output_contract, cohort

from cdmtehr import CDMTSynthesizer
from cdmtehr.diffusion.batches import CohortTensors
from cdmtehr.diffusion.denoiser import Denoiser, categorical_frequencies
from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.diffusion.loss import diffusion_loss
from cdmtehr.diffusion.noise import ar1_cholesky, correlate_in_time, noise_sampler
from cdmtehr.diffusion.schedule import FactorizedSchedule
from cdmtehr.exceptions import InvalidParameterError
from cdmtehr.sampling.samplers import sample_sde


@pytest.fixture
def layout():
    return StateLayout.from_cohort(make_cohort(length=6), embedding_dim=4)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9, 0.99])
def test_ar1_cholesky_factors_the_ar1_correlation(rho):
    factor = ar1_cholesky(7, rho)
    lag = np.abs(np.subtract.outer(np.arange(7), np.arange(7)))
    np.testing.assert_allclose((factor @ factor.T).numpy(), rho**lag, atol=1e-12)
    assert torch.equal(factor, torch.tril(factor))


@pytest.mark.parametrize("rho", [-0.1, 1.0, 1.5])
def test_ar1_cholesky_rejects_correlations_outside_0_1(rho):
    with pytest.raises(ValueError, match="correlation"):
        ar1_cholesky(4, rho)


def test_zero_correlation_is_the_white_noise_itself(layout):
    white = torch.randn(3, layout.size)
    assert correlate_in_time(white, layout, 0.0) is white


def test_correlated_noise_has_unit_variance_and_lag_one_correlation_rho(layout):
    white = torch.randn(20_000, layout.size, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    noise = correlate_in_time(white, layout, 0.8)
    steps, width = layout.max_length, layout.temporal.width
    temporal = noise[:, : steps * width].unflatten(1, (steps, width))
    np.testing.assert_allclose(temporal.var(0).numpy(), 1.0, atol=0.05)
    lag1 = (temporal[:, 1:] * temporal[:, :-1]).mean(0)
    np.testing.assert_allclose(lag1.numpy(), 0.8, atol=0.05)
    lag2 = (temporal[:, 2:] * temporal[:, :-2]).mean(0)
    np.testing.assert_allclose(lag2.numpy(), 0.64, atol=0.05)
    # Different numbers of a step stay independent; the static block stays white.
    across = (temporal[:, :, 0] * temporal[:, :, 1]).mean(0)
    np.testing.assert_allclose(across.numpy(), 0.0, atol=0.05)
    assert torch.equal(noise[:, steps * width:], white[:, steps * width:])


def test_loss_with_zero_correlation_matches_white_noise_and_correlation_changes_it(layout):
    tensors = CohortTensors.from_cohort(make_cohort(length=6), layout)
    temporal_freq, static_freq = categorical_frequencies(tensors, layout)
    torch.manual_seed(0)
    denoiser = Denoiser(layout, 2, temporal_freq, static_freq, hidden_size=16)
    schedule = FactorizedSchedule(layout)

    def loss(**kwargs):
        generator = torch.Generator().manual_seed(3)
        return diffusion_loss(denoiser, schedule, tensors, generator, **kwargs)["diffusion"]

    torch.testing.assert_close(loss(), loss(noise_correlation=0.0), rtol=0, atol=0)
    assert not torch.isclose(loss(), loss(noise_correlation=0.9))


def test_sde_sampler_draws_its_fresh_noise_from_the_noise_sampler(layout):
    sigmas = torch.linspace(2.0, 0.0, 5)[:, None].expand(5, layout.size)
    start = torch.randn(4, layout.size, dtype=torch.float64)

    def denoiser(x, sigma, condition):
        return 0.5 * x

    def run(**kwargs):
        return sample_sde(denoiser, start * 2.0, sigmas, **kwargs)

    white = run(generator=torch.Generator().manual_seed(1))
    same = run(noise_sampler=noise_sampler(layout, 0.0, torch.Generator().manual_seed(1)))
    torch.testing.assert_close(white, same, rtol=0, atol=0)
    correlated = run(noise_sampler=noise_sampler(layout, 0.9, torch.Generator().manual_seed(1)))
    assert not torch.equal(white, correlated)


@pytest.mark.parametrize("sampler", ["euler", "sde"])
def test_synthesizer_with_correlated_noise_keeps_the_contract_and_is_deterministic(
    sampler, tmp_path
):
    df = cohort(n_patients=6, length=4)
    synth = CDMTSynthesizer(noise_correlation=0.9, **TINY).fit(df, **ROLES)
    out = synth.sample(5, steps=3, sampler=sampler, random_state=0)
    assert_output_contract(out, df, ROLES, 5)
    path = tmp_path / "model.cdmt"
    synth.save(path)
    loaded = CDMTSynthesizer.load(path)
    assert loaded.noise_correlation == 0.9
    again = loaded.sample(5, steps=3, sampler=sampler, random_state=0)
    assert out.equals(again)
    white = CDMTSynthesizer(**TINY).fit(df, **ROLES)
    assert not white.sample(5, steps=3, sampler=sampler, random_state=0).equals(out)


def test_model_files_without_noise_correlation_load_as_white_noise(tmp_path):
    synth = CDMTSynthesizer(**TINY).fit(cohort(), **ROLES)
    path = tmp_path / "model.cdmt"
    synth.save(path)
    # As written before the parameter existed.
    edit_manifest(path, lambda manifest: manifest["params"].pop("noise_correlation"))
    loaded = CDMTSynthesizer.load(path)
    assert loaded.noise_correlation == 0.0
    expected = synth.sample(3, steps=2, random_state=0)
    assert loaded.sample(3, steps=2, random_state=0).equals(expected)


@pytest.mark.parametrize("rho", [-0.5, 1.0, "0.9"])
def test_noise_correlation_outside_0_1_is_refused_before_training(rho):
    with pytest.raises((InvalidParameterError, TypeError), match="noise_correlation"):
        CDMTSynthesizer(noise_correlation=rho, **TINY).fit(cohort(), **ROLES)
