"""A small GRU sequence classifier for the discriminative score (torch, CPU-sized)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class _GRUClassifier(nn.Module):
    """One-layer GRU over the stay; the last hidden state gives one logit."""

    def __init__(self, n_inputs, hidden_size):
        super().__init__()
        self.gru = nn.GRU(n_inputs, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, hidden = self.gru(packed)
        return self.head(hidden[-1]).squeeze(-1)


def _initialize(module, generator):
    """Redraw every parameter from U(-1/sqrt(h), 1/sqrt(h)) with our own generator.

    PyTorch's default initialization reads the global RNG; drawing from a private generator
    keeps the score reproducible without seeding global state.
    """
    bound = 1.0 / math.sqrt(module.gru.hidden_size)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.uniform_(-bound, bound, generator=generator)


def gru_predict(
    x_train,
    len_train,
    y_train,
    x_test,
    len_test,
    *,
    hidden_size=32,
    epochs=8,
    batch_size=128,
    learning_rate=1e-2,
    seed=0,
):
    """Train the GRU classifier and return the test probabilities of class 1.

    Parameters
    ----------
    x_train, x_test : ndarray of shape (N, T, F), float32
        Standardized inputs, zero in padding.
    len_train, len_test : ndarray of shape (N,), int
        Stay lengths (>= 1).
    y_train : ndarray of shape (N,), {0, 1}
    hidden_size, epochs, batch_size, learning_rate : int or float
        Network and optimizer sizes (a TimeGAN-style post-hoc classifier, Yoon et al. 2019).
    seed : int
        Seeds the private generator for initialization and batch order.

    Returns
    -------
    ndarray of shape (N_test,), float64
    """
    generator = torch.Generator().manual_seed(int(seed))
    model = _GRUClassifier(x_train.shape[2], hidden_size)
    _initialize(model, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.BCEWithLogitsLoss()
    x = torch.as_tensor(x_train, dtype=torch.float32)
    y = torch.as_tensor(y_train, dtype=torch.float32)
    lengths = torch.as_tensor(len_train, dtype=torch.int64)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch], lengths[batch]), y[batch])
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = model(
            torch.as_tensor(x_test, dtype=torch.float32),
            torch.as_tensor(len_test, dtype=torch.int64),
        )
    return torch.sigmoid(logits).numpy().astype(np.float64)
