"""unrolled_gru: the fused GRU's outputs and gradients, step by step, and under vmap."""

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from cdmtehr.diffusion.unrolled_gru import unrolled_gru


@pytest.mark.parametrize("num_layers", [1, 2])
def test_unrolled_gru_matches_the_fused_gru_and_its_gradients(num_layers):
    torch.manual_seed(0)
    gru = nn.GRU(5, 4, num_layers=num_layers, batch_first=True, bidirectional=True)
    x = torch.randn(3, 7, 5)
    fused = gru(x)[0]
    unrolled = unrolled_gru(gru, x)
    torch.testing.assert_close(unrolled, fused, rtol=1e-5, atol=1e-6)
    weights = torch.randn_like(fused)
    expected = torch.autograd.grad((fused * weights).sum(), list(gru.parameters()))
    got = torch.autograd.grad((unrolled * weights).sum(), list(gru.parameters()))
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_unrolled_gru_gives_per_sample_gradients_under_vmap():
    torch.manual_seed(1)
    gru = nn.GRU(3, 2, batch_first=True, bidirectional=True)
    x = torch.randn(4, 5, 3)
    params = {k: v.detach() for k, v in gru.named_parameters()}

    def loss(p, sample):
        return (functional_call(gru, p, (sample[None],), strict=True)[0] ** 2).sum()

    def loss_unrolled(p, sample):
        return (torch.func.functional_call(_Unrolled(gru), p, (sample[None],)) ** 2).sum()

    per_sample = vmap(grad(loss_unrolled), in_dims=(None, 0))(params, x)
    for i in range(len(x)):
        one = grad(loss)(params, x[i])
        for name in params:
            torch.testing.assert_close(per_sample[name][i], one[name], rtol=1e-4, atol=1e-6)


class _Unrolled(nn.Module):
    """A GRU whose forward is `unrolled_gru`, with the GRU's parameter names."""

    def __init__(self, gru):
        super().__init__()
        self._gru = [gru]
        for name, parameter in gru.named_parameters():
            self.register_parameter(name, parameter)

    def forward(self, x):
        return unrolled_gru(self, x)

    def __getattr__(self, name):
        if name in ("batch_first", "bias", "dropout", "num_layers", "bidirectional"):
            return getattr(self._gru[0], name)
        return super().__getattr__(name)


def test_unrolled_gru_refuses_what_it_does_not_implement():
    with pytest.raises(ValueError, match="batch-first"):
        unrolled_gru(nn.GRU(2, 2), torch.zeros(1, 3, 2))
