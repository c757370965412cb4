"""The sequence discriminator: a GRU pooled over the stay, trained until it stops improving."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn


class _PooledGRUClassifier(nn.Module):
    """One-layer GRU whose hidden states are pooled by mean and by max over the valid steps.

    The last hidden state of a GRU forgets an odd hour early in a 48-hour stay; the maximum
    over the steps keeps it, and the mean keeps the stay's overall level.
    """

    def __init__(self, n_inputs, hidden_size):
        super().__init__()
        self.gru = nn.GRU(n_inputs, hidden_size, batch_first=True)
        self.head = nn.Linear(2 * hidden_size, 1)

    def forward(self, x, lengths):
        """Logit of "synthetic" per stay; x is (B, T, F), lengths (B,)."""
        # The GRU reads left to right, so the zero padding after a stay cannot reach its
        # valid steps; running it on the padded batch is exact and faster than packing.
        states, _ = self.gru(x)
        valid = torch.arange(x.shape[1])[None, :] < lengths[:, None]
        mean = (states * valid[:, :, None]).sum(dim=1) / lengths[:, None]
        largest = states.masked_fill(~valid[:, :, None], -torch.inf).amax(dim=1)
        return self.head(torch.cat([mean, largest], dim=1)).squeeze(-1)


def _initialize(module, generator):
    """Redraw every parameter from U(-1/sqrt(h), 1/sqrt(h)) with our own generator.

    PyTorch's default initialization reads the global RNG; drawing from a private generator
    keeps the score reproducible without seeding global state.
    """
    bound = 1.0 / math.sqrt(module.gru.hidden_size)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.uniform_(-bound, bound, generator=generator)


def _validation_split(y, share, generator):
    """Indices of a stratified (train, validation) split of the training patients."""
    fit, check = [], []
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        order = members[torch.randperm(len(members), generator=generator).numpy()]
        n_check = max(1, int(round(share * len(members)))) if len(members) > 1 else 0
        check.append(order[:n_check])
        fit.append(order[n_check:])
    return np.concatenate(fit), np.concatenate(check)


def _mean_loss(model, loss_fn, x, lengths, y, batch_size):
    """Mean loss over a whole set, without gradients."""
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            part = slice(start, start + batch_size)
            total += float(loss_fn(model(x[part], lengths[part]), y[part])) * len(y[part])
    return total / max(len(y), 1)


def gru_predict(
    x_train,
    len_train,
    y_train,
    x_test,
    len_test,
    *,
    hidden_size=64,
    max_epochs=30,
    patience=4,
    validation_share=0.2,
    batch_size=64,
    learning_rate=3e-3,
    seed=0,
):
    """Train the pooled GRU classifier and return the test probabilities of class 1.

    A share of the training patients is kept aside as a validation set; training stops once
    its loss has not improved for `patience` epochs (or after `max_epochs`), and the weights
    of the best epoch are restored. The test patients are never seen.

    Parameters
    ----------
    x_train, x_test : ndarray of shape (N, T, F), float32
        Standardized inputs, zero in padding.
    len_train, len_test : ndarray of shape (N,), int
        Stay lengths (>= 1).
    y_train : ndarray of shape (N,), {0, 1}
    hidden_size : int, default=64
        Units of the GRU; the head reads their mean and maximum over the stay.
    max_epochs, patience : int, default=30, 4
        Early stopping on the validation loss.
    validation_share : float, default=0.2
        Share of each class of the training patients used for early stopping.
    batch_size : int, default=64
    learning_rate : float, default=3e-3
        Adam's step size.
    seed : int
        Seeds the private generator for the validation split, initialization and batch order.

    Returns
    -------
    ndarray of shape (N_test,), float64

    Notes
    -----
    A post-hoc real-versus-synthetic classifier in the spirit of TimeGAN's discriminative
    score (Yoon et al. 2019), made stronger by mean and max pooling over the hidden states
    and by training to convergence.
    """
    generator = torch.Generator().manual_seed(int(seed))
    fit, check = _validation_split(np.asarray(y_train), validation_share, generator)
    x = torch.as_tensor(x_train, dtype=torch.float32)
    y = torch.as_tensor(y_train, dtype=torch.float32)
    lengths = torch.as_tensor(len_train, dtype=torch.int64)
    x_fit, len_fit, y_fit = x[fit], lengths[fit], y[fit]
    x_check, len_check, y_check = x[check], lengths[check], y[check]

    model = _PooledGRUClassifier(x.shape[2], hidden_size)
    _initialize(model, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.BCEWithLogitsLoss()
    best_loss, best_state, waited = math.inf, copy.deepcopy(model.state_dict()), 0
    for _ in range(max_epochs):
        model.train()
        order = torch.randperm(len(x_fit), generator=generator)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x_fit[batch], len_fit[batch]), y_fit[batch])
            loss.backward()
            optimizer.step()
        if not len(check):
            best_state = copy.deepcopy(model.state_dict())
            continue
        model.eval()
        loss = _mean_loss(model, loss_fn, x_check, len_check, y_check, 4 * batch_size)
        if loss < best_loss - 1e-4:
            best_loss, best_state, waited = loss, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    x_out = torch.as_tensor(x_test, dtype=torch.float32)
    len_out = torch.as_tensor(len_test, dtype=torch.int64)
    logits = []
    with torch.no_grad():
        for start in range(0, len(x_out), 4 * batch_size):
            part = slice(start, start + 4 * batch_size)
            logits.append(model(x_out[part], len_out[part]))
    logits = torch.cat(logits) if logits else torch.zeros(0)
    return torch.sigmoid(logits).numpy().astype(np.float64)
