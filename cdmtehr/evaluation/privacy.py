"""Privacy: whether synthetic patients sit closer to training patients than unseen ones do."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from .features import privacy_vectors


def nearest_distance(query, reference, *, exclude_self=False):
    """Euclidean distance from each query row to its nearest reference row.

    Parameters
    ----------
    query : ndarray of shape (N, F)
    reference : ndarray of shape (M, F)
    exclude_self : bool, default=False
        When `query` is `reference`, skip each row's match with itself (other identical rows
        still count, at distance 0).

    Returns
    -------
    ndarray of shape (N,)
    """
    index = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(reference)
    distance, _ = index.kneighbors(None if exclude_self else query, n_neighbors=1)
    return distance[:, 0]


def adversarial_accuracy(real, synthetic):
    """Nearest-neighbour adversarial accuracy AA_TS (Yale et al. 2020).

    ``AA = 1/2 [mean(d_TS > d_TT) + mean(d_ST > d_SS)]``, with d_TS the distance of a real
    record to the nearest synthetic one, d_TT to the nearest other real one, and likewise for
    synthetic records (Yale et al. 2020). 0.5 is ideal; near 0 means synthetic records
    sit on top of real ones, near 1 means they are easy to tell apart.

    Parameters
    ----------
    real, synthetic : ndarray of shape (n, F)
        Equal-size samples.

    Returns
    -------
    float
    """
    d_ts = nearest_distance(real, synthetic)
    d_st = nearest_distance(synthetic, real)
    d_tt = nearest_distance(real, real, exclude_self=True)
    d_ss = nearest_distance(synthetic, synthetic, exclude_self=True)
    return float(0.5 * (np.mean(d_ts > d_tt) + np.mean(d_st > d_ss)))


def privacy_scores(real, synthetic, holdout, *, random_state=0):
    """Distance-based privacy scores against a holdout: DCR, NNAA and membership inference.

    NNAA after Yale et al. (2020); membership inference as in TimeDiff.

    Patients are compared as summary vectors (see :func:`~cdmtehr.evaluation.patient_features`),
    standardized with the training cohort's statistics, missing values as 0 plus an indicator.

    Parameters
    ----------
    real : Cohort
        The generator's training patients.
    synthetic : Cohort
    holdout : Cohort
        Real patients the generator never saw.
    random_state : int
        Seeds the equal-size draws.

    Returns
    -------
    dict of str to float
        ``dcr_synthetic_median`` and ``dcr_holdout_median`` (median distance to the closest
        training record), ``dcr_ratio`` (synthetic / holdout; near 1 is fine, well below 1
        means copying), ``dcr_closer_to_train`` (share of synthetic records closer to an
        equal-size training sample than to the holdout; 0.5 ideal), ``nnaa_train`` and
        ``nnaa_test`` (adversarial accuracy against training and holdout patients),
        ``nnaa_privacy_loss`` (``nnaa_test - nnaa_train``; near 0 ideal, positive means the
        synthetic data is closer to the patients it learned from), ``mia_auroc`` (a
        membership-inference attack scoring each real record by minus its distance to the
        nearest synthetic record, members = training, non-members = holdout; 0.5 ideal).
    """
    rng = np.random.default_rng(random_state)
    train, syn, test = privacy_vectors(
        [real.summary, synthetic.summary, holdout.summary], reference=real.summary
    )
    scores = {}
    dcr_syn = nearest_distance(syn, train)
    dcr_test = nearest_distance(test, train)
    scores["dcr_synthetic_median"] = float(np.median(dcr_syn))
    scores["dcr_holdout_median"] = float(np.median(dcr_test))
    scores["dcr_ratio"] = float(scores["dcr_synthetic_median"] / max(np.median(dcr_test), 1e-12))

    # Equal-size samples: the nearest-neighbour statistics depend on the sample sizes.
    n = min(len(train), len(test), len(syn))
    train_n = train[rng.choice(len(train), size=n, replace=False)]
    test_n = test[rng.choice(len(test), size=n, replace=False)]
    syn_n = syn[rng.choice(len(syn), size=n, replace=False)]
    to_train, to_test = nearest_distance(syn, train_n), nearest_distance(syn, test_n)
    scores["dcr_closer_to_train"] = float(
        np.mean(to_train < to_test) + 0.5 * np.mean(to_train == to_test)
    )
    scores["nnaa_train"] = adversarial_accuracy(train_n, syn_n)
    scores["nnaa_test"] = adversarial_accuracy(test_n, syn_n)
    scores["nnaa_privacy_loss"] = scores["nnaa_test"] - scores["nnaa_train"]
    members = np.concatenate([nearest_distance(train_n, syn), nearest_distance(test_n, syn)])
    is_member = np.repeat([1, 0], n)
    scores["mia_auroc"] = float(roc_auc_score(is_member, -members))
    return scores
