"""Gradient boosting on per-patient features, shared by the discriminative and utility scores."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier


def boosting_predict(x_train, y_train, x_test, *, seed, **params):
    """Fit histogram gradient boosting and return the test class probabilities.

    Parameters
    ----------
    x_train, x_test : ndarray of shape (N, F), float64
        Features; NaN is allowed (the trees route it).
    y_train : ndarray of shape (N,)
    seed : int
    **params
        Overrides of the classifier's settings.

    Returns
    -------
    ndarray of shape (N_test, n_classes)
        Columns in the order of ``np.unique(y_train)``.
    """
    # Columns without any value in the training part carry nothing, and scikit-learn's
    # binning cannot take them (it fails on an empty column).
    keep = ~np.isnan(x_train).all(axis=0)
    settings = {"max_iter": 100, "learning_rate": 0.1, "early_stopping": False}
    settings.update(params)
    model = HistGradientBoostingClassifier(random_state=seed, **settings)
    model.fit(x_train[:, keep], y_train)
    return model.predict_proba(x_test[:, keep])
