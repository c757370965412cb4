"""Averages along time in memory linear in the stay, and a warning for a stay that dwarfs the rest."""

import warnings

import numpy as np
import pytest
import torch

from cdmtehr.diffusion import network
from cdmtehr.diffusion.model import warn_long_stays
from cdmtehr.diffusion.network import pool_along_time, pooling_kernels
from cdmtehr.exceptions import DataWarning


@pytest.mark.parametrize("length", [1, 2, 7, 63, 64, 65, 200])
def test_pooling_equals_the_dense_kernels(length):
    x = torch.randn(3, length, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    dense = torch.einsum("kts,bsp->btkp", pooling_kernels(length).double(), x)
    torch.testing.assert_close(pool_along_time(x), dense, atol=1e-6, rtol=1e-6)


def test_pooling_holds_no_tensor_of_length_squared(monkeypatch):
    length = 5000
    sizes = []
    original = torch.einsum

    def recording(equation, *operands):
        sizes.extend(op.numel() for op in operands)
        out = original(equation, *operands)
        sizes.append(out.numel())
        return out

    monkeypatch.setattr(network.torch, "einsum", recording)
    monkeypatch.setattr(network, "pooling_kernels", None)  # the dense form is never used
    x = torch.ones(1, length, 2)
    pooled = pool_along_time(x)
    # Every tensor is linear in the length (a kernel of one block is 64 x 64).
    assert max(sizes) <= 2 * length * 2
    torch.testing.assert_close(pooled, torch.ones(1, length, 3, 2))


def test_a_stay_far_longer_than_the_rest_is_warned_about():
    with pytest.warns(DataWarning, match=r"10000 time steps.*padded"):
        warn_long_stays(np.r_[np.full(50, 48), 10_000])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_long_stays(np.r_[np.full(50, 48), 300])  # 6 times the median: no warning
        warn_long_stays(np.full(50, 48))
