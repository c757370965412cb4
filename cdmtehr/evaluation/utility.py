"""Utility: how well a model trained on synthetic patients predicts real ones' condition."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from ._boosting import boosting_predict

# Slower, more regularized boosting than the discriminator's: the label is rare and noisy.
_SETTINGS = {
    "max_iter": 200,
    "learning_rate": 0.05,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 20,
    "l2_regularization": 1.0,
}


def labelled_condition(cohort, levels):
    """Summary features and condition codes of the patients whose condition is known.

    Returns ``(x, y)``: the rows of ``cohort.summary`` as float64 and each patient's code (the
    index of its condition in `levels`); patients whose condition is missing are left out.
    """
    codes = pd.Categorical(cohort.static[cohort.roles.condition_col], categories=list(levels))
    codes = np.asarray(codes.codes, dtype=np.int64)
    known = codes >= 0
    return cohort.summary.to_numpy("float64")[known], codes[known]


def predict_condition(x_train, y_train, x_test, n_classes, seed):
    """Class probabilities of `x_test` from gradient boosting fitted on `x_train`, `y_train`.

    One column for every class of ``range(n_classes)``, even those absent from training (they
    get 0; when one class only is present, it gets 1). The boosting is the slower, more
    regularized one of the utility scores.
    """
    present = np.unique(y_train)
    proba = np.zeros((len(x_test), n_classes))
    if len(present) == 1:  # nothing to learn: every patient gets the only class seen
        proba[:, present[0]] = 1.0
        return proba
    proba[:, present] = boosting_predict(x_train, y_train, x_test, seed=seed, **_SETTINGS)
    return proba


def auroc_auprc(y, proba):
    """AUROC and AUPRC; the last class is positive when binary, macro one-vs-rest otherwise."""
    n_classes = proba.shape[1]
    if n_classes == 2:
        return roc_auc_score(y, proba[:, 1]), average_precision_score(y, proba[:, 1])
    onehot = np.eye(n_classes)[y]
    present = onehot.any(axis=0) & ~onehot.all(axis=0)
    aurocs = [roc_auc_score(onehot[:, c], proba[:, c]) for c in np.flatnonzero(present)]
    auprcs = [average_precision_score(onehot[:, c], proba[:, c]) for c in np.flatnonzero(present)]
    return float(np.mean(aurocs)), float(np.mean(auprcs))


def utility_scores(real, synthetic, holdout, *, random_state=0):
    """Train-on-synthetic-test-on-real against train-on-real-test-on-real (TSTR, TRTR).

    After Esteban et al. (2017), with TimeDiff's protocol (Tian et al. 2024).

    A gradient-boosted classifier on per-patient summary features predicts the condition
    (e.g. in-hospital death). Both training sets are cut to the same number of patients, so
    that the comparison is about the data, not its amount (as TimeDiff subsamples its training
    sets). The holdout patients are never seen by the generator nor by either classifier.

    Parameters
    ----------
    real, synthetic, holdout : Cohort
        All carry the condition column.
    random_state : int

    Returns
    -------
    scores : dict of str to float
        ``tstr_auroc``, ``trtr_auroc``, ``tstr_trtr_auroc_ratio``, the same for AUPRC, and
        ``trts_auroc`` (the real-trained model on synthetic patients: do the synthetic labels
        follow the real relation between course and outcome?). For a binary condition the last
        level in sorted order (1, ``"yes"``) is the positive class; with more classes the
        scores are macro one-vs-rest averages.
    notes : list of str
        Why scores are missing or degenerate, if they are.
    """
    rng = np.random.default_rng(random_state)
    levels = real.categories[real.roles.condition_col]
    n_classes = len(levels)
    x_real, y_real = labelled_condition(real, levels)
    x_syn, y_syn = labelled_condition(synthetic, levels)
    x_test, y_test = labelled_condition(holdout, levels)
    notes = []
    if n_classes < 2 or len(np.unique(y_test)) < 2:
        return {}, [
            f"Utility skipped: the holdout has a single class of "
            f"'{real.roles.condition_col}', so AUROC is undefined."
        ]
    if len(np.unique(y_syn)) < 2:
        notes.append("The synthetic cohort has a single condition class: TSTR is chance level.")
    n_train = min(len(y_real), len(y_syn))
    pick_real = np.sort(rng.choice(len(y_real), size=n_train, replace=False))
    pick_syn = np.sort(rng.choice(len(y_syn), size=n_train, replace=False))
    seed = int(rng.integers(2**31 - 1))
    # The real-trained model scores the holdout (TRTR) and the synthetic patients (TRTS).
    on_real_model = predict_condition(
        x_real[pick_real], y_real[pick_real], np.vstack([x_test, x_syn]), n_classes, seed
    )
    trtr, trts = on_real_model[: len(y_test)], on_real_model[len(y_test) :]
    tstr = predict_condition(x_syn[pick_syn], y_syn[pick_syn], x_test, n_classes, seed)
    tstr_auroc, tstr_auprc = auroc_auprc(y_test, tstr)
    trtr_auroc, trtr_auprc = auroc_auprc(y_test, trtr)
    scores = {
        "tstr_auroc": float(tstr_auroc),
        "trtr_auroc": float(trtr_auroc),
        "tstr_trtr_auroc_ratio": float(tstr_auroc / trtr_auroc),
        "tstr_auprc": float(tstr_auprc),
        "trtr_auprc": float(trtr_auprc),
        "tstr_trtr_auprc_ratio": float(tstr_auprc / trtr_auprc),
    }
    if len(np.unique(y_syn)) > 1:
        scores["trts_auroc"] = float(auroc_auprc(y_syn, trts)[0])
    return scores, notes
