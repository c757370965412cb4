"""Discriminative score: how well a classifier tells real patients from synthetic ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from ._boosting import boosting_predict
from ._gru import gru_predict

# What each sequence discriminator reads of the per-step inputs (see `sequence_inputs`).
SEQUENCE_VIEWS = {
    "sequence": "values_and_masks",
    "sequence_masks": "masks",
    "sequence_values": "values",
}
CLASSIFIERS = ("summary", *SEQUENCE_VIEWS)
# Share of the patients on which a sequence discriminator is scored, never trained.
SEQUENCE_TEST_SHARE = 0.3


def _seed(rng):
    """Draw a fresh integer seed for a sub-component."""
    return int(rng.integers(2**31 - 1))


def sequence_inputs(cohort, reference, max_length, clip=5.0, view="values_and_masks"):
    """Per-step classifier inputs: values, measurement masks, categories and statics.

    Parameters
    ----------
    cohort : Cohort
        The cohort to encode.
    reference : Cohort
        The real cohort, whose means and standard deviations standardize both cohorts alike.
    max_length : int
        T.
    clip : float, default=5.0
        Standardized values are clipped to [-clip, clip].
    view : {"values_and_masks", "masks", "values"}, default="values_and_masks"
        Which inputs keep their content; the others are zeroed, so that the width F stays
        the same. ``"masks"`` keeps what says whether something was measured (the 0/1 masks,
        the "missing" level of each category, the missing flags of static numbers): the
        schedule of care alone. ``"values"`` keeps what was measured (standardized values, 0
        where missing; category levels; static columns): the values without their timing.

    Returns
    -------
    x : ndarray of shape (N, T, F), float32
        Per step: standardized values (0 where missing), 0/1 measured masks, one-hot
        categorical levels (missing included), then the static columns repeated at every step
        (standardized numbers with a missing flag, one-hot categories). Zero in padding.
    lengths : ndarray of shape (N,), int64
    """
    roles = cohort.roles
    values, codes, valid = cohort.sequences(max_length)
    ref = reference.frame[list(roles.temporal_num_cols)]
    mean, std = ref.mean().to_numpy(), ref.std().fillna(1.0).replace(0.0, 1.0).to_numpy()
    scaled = np.clip((values - mean) / std, -clip, clip)
    n_values = values.shape[2]
    blocks = [np.nan_to_num(scaled), (~np.isnan(values)).astype(np.float64)]
    is_mask = [np.zeros(n_values, bool), np.ones(n_values, bool)]
    for k, col in enumerate(roles.temporal_cat_cols):
        n_levels = len(cohort.categories[col]) + 1
        blocks.append(np.eye(n_levels)[np.maximum(codes[:, :, k], 0)])
        is_mask.append(np.arange(n_levels) == n_levels - 1)  # the "missing" level
    static, static_is_mask = [], []
    for col in roles.static_num_cols:
        column = cohort.static[col].to_numpy("float64")
        ref_col = reference.static[col]
        z = (column - ref_col.mean()) / (ref_col.std() if ref_col.std() > 0 else 1.0)
        static += [np.nan_to_num(np.clip(z, -clip, clip))[:, None], np.isnan(column)[:, None]]
        static_is_mask += [False, True]
    for col in roles.static_cat_cols:
        levels = list(cohort.categories[col])
        static.append(np.eye(len(levels) + 1)[_codes(cohort.static[col], levels)])
        static_is_mask += [False] * len(levels) + [True]
    if static:
        per_patient = np.hstack(static).astype(np.float64)
        shape = (*valid.shape, per_patient.shape[1])
        blocks.append(np.broadcast_to(per_patient[:, None, :], shape))
        is_mask.append(np.array(static_is_mask))
    is_mask = np.concatenate(is_mask)
    keep = {"values_and_masks": np.ones_like(is_mask), "masks": is_mask, "values": ~is_mask}[view]
    x = np.concatenate(blocks, axis=2) * valid[:, :, None] * keep
    lengths = np.maximum(valid.sum(axis=1), 1)
    return x.astype(np.float32), lengths.astype(np.int64)


def _codes(series, levels):
    """Level index of each value, ``len(levels)`` for missing."""
    code = pd.Categorical(series, categories=levels).codes.astype(np.int64)
    return np.where(code < 0, len(levels), code)


def _classify_summary(features, y, folds, seed):
    """Out-of-fold P(synthetic) from gradient boosting on per-patient summaries."""
    proba = np.empty(len(y))
    for train, test in folds:
        proba[test] = boosting_predict(features[train], y[train], features[test], seed=seed)[:, 1]
    return proba


def _classify_sequence(x, lengths, y, split, seed):
    """P(synthetic) of the test patients from the GRU classifier."""
    train, test = split
    return gru_predict(x[train], lengths[train], y[train], x[test], lengths[test], seed=seed)


def discriminative_scores(real, synthetic, *, classifiers=CLASSIFIERS, n_splits=5, random_state=0):
    """Real-versus-synthetic classification scores (TimeGAN's discriminative score).

    After Yoon et al. (2019).

    Equal numbers of real and synthetic patients are drawn, and every classifier is scored by
    AUROC on patients it never trained on. The summary classifier is cross-validated
    (stratified k-fold, so every patient is predicted once). The sequence classifiers train on
    a stratified 70 % of the patients (of which a fifth decides when to stop) and are scored
    on the other 30 %: one split, shared by the three, because a GRU trained to convergence
    per fold would cost five times as much.

    Parameters
    ----------
    real, synthetic : Cohort
        The real patients to compare with (the holdout, when :func:`evaluate` has one) and
        the synthetic ones. The real cohort standardizes the inputs of both.
    classifiers : tuple of {"summary", "sequence", "sequence_masks", "sequence_values"}
        ``"summary"``: histogram gradient boosting on per-patient summaries (mean, sd, min,
        max, last, missing share per variable, static columns, length). ``"sequence"``: a
        one-layer GRU of 64 units over the per-step standardized values, measurement masks,
        categories and statics, its hidden states pooled by mean and by max over the stay,
        trained with early stopping. ``"sequence_masks"``: the same on the masks alone (when
        things were measured), ``"sequence_values"``: on the values alone (what was measured,
        0 where missing). See :func:`sequence_inputs`.
    n_splits : int, default=5
        Number of cross-validation folds of the summary classifier.
    random_state : int
        Seeds the patient draw, the folds, the split and every classifier.

    Returns
    -------
    scores : dict of str to float
        ``disc_<name>_auroc`` and ``disc_<name>_accuracy_gap`` (``|accuracy - 0.5|``) per
        classifier, and the headline ``disc_auroc`` / ``disc_accuracy_gap``: the classifier
        with the higher AUROC, i.e. the stronger adversary.
    headline : str
        Name of the classifier behind the headline.
    """
    rng = np.random.default_rng(random_state)
    n = min(real.n_patients, synthetic.n_patients)
    pick_real = np.sort(rng.choice(real.n_patients, size=n, replace=False))
    pick_syn = np.sort(rng.choice(synthetic.n_patients, size=n, replace=False))
    y = np.repeat([0, 1], n)
    folds = list(
        StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=_seed(rng)).split(y, y)
    )
    seed = _seed(rng)
    split = train_test_split(
        np.arange(len(y)), test_size=SEQUENCE_TEST_SHARE, stratify=y, random_state=_seed(rng)
    )
    scores, aurocs = {}, {}
    for name in classifiers:
        if name == "summary":
            features = np.vstack(
                [
                    real.summary.to_numpy("float64")[pick_real],
                    synthetic.summary.to_numpy("float64")[pick_syn],
                ]
            )
            truth, proba = y, _classify_summary(features, y, folds, seed)
        else:
            max_length = int(max(real.lengths.max(), synthetic.lengths.max()))
            view = SEQUENCE_VIEWS[name]
            x_real, len_real = sequence_inputs(real, real, max_length, view=view)
            x_syn, len_syn = sequence_inputs(synthetic, real, max_length, view=view)
            x = np.concatenate([x_real[pick_real], x_syn[pick_syn]])
            lengths = np.concatenate([len_real[pick_real], len_syn[pick_syn]])
            truth = y[split[1]]
            proba = _classify_sequence(x, lengths, y, split, seed)
        aurocs[name] = roc_auc_score(truth, proba)
        scores[f"disc_{name}_auroc"] = float(aurocs[name])
        scores[f"disc_{name}_accuracy_gap"] = float(abs(np.mean((proba > 0.5) == truth) - 0.5))
    headline = max(aurocs, key=aurocs.get)
    scores["disc_auroc"] = scores[f"disc_{headline}_auroc"]
    scores["disc_accuracy_gap"] = scores[f"disc_{headline}_accuracy_gap"]
    return scores, headline
