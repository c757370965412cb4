"""unrolled_gru: an `nn.GRU`'s forward pass step by step, for per-patient gradients.

torch's fused GRU kernel has no batching rule for `torch.func.vmap`, which differentially
private training uses to get one gradient per patient. This is the same computation
(PyTorch's GRU equations) written with plain tensor operations on the module's own weights,
so that the model and its file are unchanged.

Unrolled naively, the gradient of the recurrent weight is accumulated at every time step, one
(3H x H) matrix per patient and step, which dominates the cost. Here the recurrent product
enters each step as ``h_{t-1} W.detach()^T + c_t`` where ``c = H_prev W^T - (H_prev W^T).detach()``
is zero-valued and ``H_prev`` holds the hidden states of a first pass without gradients (the
same numbers). The value and the gradient with respect to ``h`` are unchanged, and the
gradient of ``W`` comes from one product over all steps at once.
"""

from __future__ import annotations

import torch
from torch import nn


def _direction(x, weights, hidden_prev=None):
    """One direction of one layer over x (B, T, I); returns its hidden states (B, T, H)."""
    w_ih, w_hh, b_ih, b_hh = weights
    inputs = x @ w_ih.T + b_ih  # every step's input gates in one product
    recurrent, correction = w_hh, None
    if hidden_prev is not None:
        correction = hidden_prev @ w_hh.T
        correction = correction - correction.detach()
        recurrent = w_hh.detach()
    h = x.new_zeros(x.shape[0], w_hh.shape[1])
    states = []
    for t in range(x.shape[1]):
        gates = h @ recurrent.T + b_hh
        if correction is not None:
            gates = gates + correction[:, t]
        input_r, input_z, input_n = inputs[:, t].chunk(3, dim=-1)
        hidden_r, hidden_z, hidden_n = gates.chunk(3, dim=-1)
        reset = torch.sigmoid(input_r + hidden_r)
        update = torch.sigmoid(input_z + hidden_z)
        candidate = torch.tanh(input_n + reset * hidden_n)
        h = (1 - update) * candidate + update * h
        states.append(h)
    return torch.stack(states, dim=1)


def _weights(gru: nn.GRU, layer: int, suffix: str) -> tuple:
    return tuple(
        getattr(gru, f"{name}_l{layer}{suffix}")
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )


def unrolled_gru(gru: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """The output sequence of ``gru(x)[0]`` for a batch-first GRU (zero initial state).

    Parameters
    ----------
    gru : nn.GRU
        Batch-first, with biases and without dropout between layers.
    x : Tensor of shape (B, T, input_size)

    Returns
    -------
    Tensor of shape (B, T, num_directions * hidden_size)
    """
    if not (gru.batch_first and gru.bias) or (gru.dropout and gru.num_layers > 1):
        raise ValueError("unrolled_gru needs a batch-first GRU with biases and no dropout.")
    suffixes = ("", "_reverse") if gru.bidirectional else ("",)
    for layer in range(gru.num_layers):
        outputs = []
        for suffix in suffixes:
            weights = _weights(gru, layer, suffix)
            sequence = x.flip(1) if suffix else x
            with torch.no_grad():
                first_pass = _direction(sequence, weights)
            hidden_prev = torch.cat([torch.zeros_like(first_pass[:, :1]), first_pass[:, :-1]], 1)
            states = _direction(sequence, weights, hidden_prev)
            outputs.append(states.flip(1) if suffix else states)
        x = torch.cat(outputs, dim=-1)
    return x
