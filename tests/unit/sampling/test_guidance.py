"""Classifier-free guidance: the mix of conditional and unconditional, in one forward."""

import pytest
import torch

from cdmtehr.sampling import classifier_free_guidance


def conditional_denoiser(x, sigma, condition):
    # Class c pulls towards c, the null class (index 2) towards 0.
    target = torch.where(condition == 2, 0.0, condition.to(x.dtype) * 10.0)[:, None]
    return x * 0 + target


@pytest.mark.parametrize("scale", [0.0, 1.0, 3.0])
def test_guidance_mixes_conditional_and_unconditional(scale):
    x = torch.zeros(4, 3)
    sigma = torch.ones(3)
    condition = torch.tensor([0, 1, 1, 0])
    guided = classifier_free_guidance(conditional_denoiser, scale, null_class=2)
    expected = scale * condition.float()[:, None] * 10.0 + x
    torch.testing.assert_close(guided(x, sigma, condition), expected)


def test_guidance_scale_one_returns_the_denoiser_itself():
    assert classifier_free_guidance(conditional_denoiser, 1.0, null_class=2) is conditional_denoiser


def test_guidance_runs_one_batched_forward():
    calls = []

    def counting(x, sigma, condition):
        calls.append(x.shape[0])
        return conditional_denoiser(x, sigma, condition)

    guided = classifier_free_guidance(counting, 2.0, null_class=2)
    guided(torch.zeros(5, 3), torch.ones(5, 3), torch.zeros(5, dtype=torch.long))
    assert calls == [10]
