"""Membership and attribute inference: attacks that audit what synthetic data gives away.

Three attacks, each scored on training patients (members) against real patients the generator
never saw (non-members), with the synthetic cohort as the attacker's only view of the model:

* closeness: a real patient close to a synthetic one is guessed a member (the weakest kind);
* density ratio (DOMIAS, van Breugel et al. 2023): a patient where the synthetic density is
  high *relative to the real population's* is guessed a member. A generator that overfits
  puts extra density on its training patients, which is what the ratio picks up, also where
  the population is dense anyway (where the closeness attack is fooled). The population's
  density comes from a reference set of real non-members, kept apart from the ones attacked;
* attribute inference: a classifier trained on synthetic patients predicts a sensitive
  column (the condition) of real ones; a better score on training patients than on unseen
  ones means the synthetic data carries the training patients' values.

Patients are compared as per-patient summary vectors (`patient_features`) standardised by the
reference set, projected on their first principal components (whitened) for the densities,
which are Gaussian kernel density estimates (Scott's bandwidth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.neighbors import KernelDensity

from ..exceptions import InvalidParameterError
from ._frames import resolve_roles
from .features import prepare_cohorts, privacy_vectors
from .privacy import nearest_distance
from .utility import auroc_auprc, labelled_condition, predict_condition

# The false-positive rate at which the true-positive rate of an attack is read: an attack that
# flags 1 % of non-members by mistake is as far as a cautious attacker would go.
LOW_FPR = 0.01


def attack_scores(is_member, score, low_fpr: float = LOW_FPR) -> tuple:
    """AUROC of an attack's scores, and its true-positive rate at `low_fpr` false positives.

    Parameters
    ----------
    is_member : array-like of bool
        True for members.
    score : array-like of float
        Higher means "more likely a member".
    low_fpr : float, default=0.01

    Returns
    -------
    auroc, tpr_at_low_fpr : float
    """
    is_member, score = np.asarray(is_member, dtype=bool), np.asarray(score, dtype=float)
    fpr, tpr, _ = roc_curve(is_member, score)
    return float(roc_auc_score(is_member, score)), float(np.interp(low_fpr, fpr, tpr))


def _log_density(fit_on, points) -> np.ndarray:
    """Gaussian KDE of `fit_on` at `points` (log), bandwidth by Scott's rule."""
    n, dims = fit_on.shape
    bandwidth = n ** (-1.0 / (dims + 4))
    return KernelDensity(bandwidth=bandwidth).fit(fit_on).score_samples(points)


def density_ratio_score(candidates, synthetic, reference, n_components: int = 10):
    """DOMIAS's score log p_synthetic(x) - log p_reference(x) of each candidate row.

    Parameters
    ----------
    candidates, synthetic, reference : ndarray of shape (n, F)
        Standardised summary vectors.
    n_components : int, default=10
        Principal components of the reference kept for the densities.

    Returns
    -------
    ndarray of shape (n_candidates,)
    """
    n_components = max(1, min(n_components, reference.shape[1], len(reference) - 1))
    pca = PCA(n_components=n_components, whiten=True, random_state=0).fit(reference)
    project = pca.transform
    points = project(candidates)
    return _log_density(project(synthetic), points) - _log_density(project(reference), points)


def _attribute_inference(real, synthetic, holdout, seed) -> dict:
    """AUROC of a synthetic-trained model of the condition on training and unseen patients."""
    levels = real.categories[real.roles.condition_col]
    x_syn, y_syn = labelled_condition(synthetic, levels)
    x_train, y_train = labelled_condition(real, levels)
    x_test, y_test = labelled_condition(holdout, levels)
    n = min(len(y_train), len(y_test))
    rng = np.random.default_rng(seed)
    keep_train = rng.choice(len(y_train), size=n, replace=False)
    keep_test = rng.choice(len(y_test), size=n, replace=False)
    x_train, y_train = x_train[keep_train], y_train[keep_train]
    x_test, y_test = x_test[keep_test], y_test[keep_test]
    if len(np.unique(y_train)) < 2 or len(np.unique(y_test)) < 2 or len(np.unique(y_syn)) < 2:
        return {}
    proba = predict_condition(x_syn, y_syn, np.vstack([x_train, x_test]), len(levels), seed)
    train_auroc, _ = auroc_auprc(y_train, proba[:n])
    test_auroc, _ = auroc_auprc(y_test, proba[n:])
    return {
        "attribute_auroc_train": float(train_auroc),
        "attribute_auroc_holdout": float(test_auroc),
        "attribute_gap": float(train_auroc - test_auroc),
    }


def membership_scores(real, synthetic, holdout, *, n_components=10, random_state=0) -> dict:
    """The attacks' scores on prepared cohorts (`Cohort` objects of `evaluate`).

    The holdout is split in two halves: the reference of the density attack, and the
    non-members attacked; as many training patients as non-members are the members.

    Returns
    -------
    dict of str to float
        ``domias_auroc``, ``domias_tpr_at_1pct_fpr``, ``closeness_auroc``,
        ``closeness_tpr_at_1pct_fpr``, ``n_attacked`` (members + non-members) and, with a
        condition column, ``attribute_auroc_train``, ``attribute_auroc_holdout`` and
        ``attribute_gap``.
    """
    rng = np.random.default_rng(random_state)
    order = rng.permutation(holdout.n_patients)
    half = holdout.n_patients // 2
    reference_rows, outsider_rows = order[:half], order[half:]
    n = min(len(outsider_rows), real.n_patients)
    member_rows = rng.choice(real.n_patients, size=n, replace=False)
    outsider_rows = outsider_rows[:n]
    summary = holdout.summary
    reference, members, outsiders, syn = privacy_vectors(
        [summary.iloc[reference_rows], real.summary.iloc[member_rows],
         summary.iloc[outsider_rows], synthetic.summary],
        reference=summary.iloc[reference_rows],
    )
    candidates = np.vstack([members, outsiders])
    is_member = np.repeat([True, False], n)
    scores = {}
    ratio = density_ratio_score(candidates, syn, reference, n_components=n_components)
    scores["domias_auroc"], scores["domias_tpr_at_1pct_fpr"] = attack_scores(is_member, ratio)
    closeness = -nearest_distance(candidates, syn)
    scores["closeness_auroc"], scores["closeness_tpr_at_1pct_fpr"] = attack_scores(
        is_member, closeness
    )
    scores["n_attacked"] = float(2 * n)
    if real.roles.condition_col is not None:
        scores.update(_attribute_inference(real, synthetic, holdout, int(rng.integers(2**31))))
    return scores


def reading(scores: dict) -> str:
    """The attacks' results in plain words."""
    if "domias_auroc" not in scores:
        return "The membership attacks need a holdout of real patients the model never saw."
    sentences = []
    for name, label in (("domias", "The density-ratio attack"), ("closeness", "The closeness "
                                                                 "attack")):
        auroc, tpr = scores[f"{name}_auroc"], scores[f"{name}_tpr_at_1pct_fpr"]
        sentences.append(
            f"{label} tells training patients from unseen ones with an AUROC of {auroc:.3f} "
            f"(0.5 is a coin toss); flagging only 1 % of unseen patients by mistake, it finds "
            f"{100 * tpr:.1f} % of the training patients (a guess finds 1 %)."
        )
    worst = max(scores["domias_auroc"], scores["closeness_auroc"])
    if worst < 0.55:
        sentences.append("Neither attack does much better than guessing.")
    elif worst < 0.6:
        sentences.append("The better attack has a small edge over guessing.")
    else:
        sentences.append(
            "The better attack clearly beats guessing: the synthetic data reveals who was in "
            "the training data; train with differential privacy (dp_epsilon) or for less long."
        )
    if "attribute_gap" in scores:
        sentences.append(
            f"A model of the condition trained on synthetic patients scores an AUROC of "
            f"{scores['attribute_auroc_train']:.3f} on training patients and "
            f"{scores['attribute_auroc_holdout']:.3f} on unseen ones (gap "
            f"{scores['attribute_gap']:+.3f}; a gap well above 0 means the synthetic data "
            "carries the training patients' outcomes)."
        )
    return " ".join(sentences)


@dataclass
class MembershipInference:
    """Result of :func:`membership_inference`.

    Attributes
    ----------
    scores : dict of str to float
        See :func:`membership_inference`.
    reading : str
        The scores in plain words.
    """

    scores: dict
    reading: str


def membership_inference(
    real,
    synthetic,
    holdout,
    *,
    id_col,
    time_col,
    num_cols=None,
    cat_cols=None,
    static_cols=None,
    condition_col=None,
    n_components=10,
    max_patients=2000,
    random_state=0,
):
    """Audit a synthetic cohort with membership- and attribute-inference attacks.

    Parameters
    ----------
    real : DataFrame
        The generator's training patients, long format (one row per patient and time step).
    synthetic : DataFrame
        The generated cohort, same columns.
    holdout : DataFrame
        Real patients the generator never saw: half of them are the density attack's
        reference of the population, the other half the non-members attacked.
    id_col, time_col, num_cols, cat_cols, static_cols, condition_col
        Column roles, as in :func:`evaluate`. The condition (e.g. in-hospital death) is the
        sensitive column of the attribute inference; without one it is skipped.
    n_components : int, default=10
        Principal components of the summaries on which the densities are estimated.
    max_patients : int or None, default=2000
        Each frame is cut to this many random patients first.
    random_state : int or None, default=0
        Seeds the draws.

    Returns
    -------
    MembershipInference
        ``scores``: ``domias_auroc`` and ``domias_tpr_at_1pct_fpr`` (density-ratio attack,
        van Breugel et al. 2023: AUROC on members versus non-members, 0.5 = chance, and the
        share of members found when 1 % of non-members are flagged, 0.01 = chance),
        ``closeness_auroc`` and ``closeness_tpr_at_1pct_fpr`` (nearest-synthetic-distance
        attack on the same patients), ``n_attacked``, and with a condition
        ``attribute_auroc_train``, ``attribute_auroc_holdout`` and ``attribute_gap``
        (a synthetic-trained model of the condition on training minus unseen patients;
        0 = no leak). ``reading``: the same in plain words.

    Raises
    ------
    InvalidDataError
        As :func:`evaluate`, e.g. a frame with fewer than 10 patients.
    InvalidParameterError
        If `n_components` is not a positive int.

    Examples
    --------
    >>> from cdmtehr.evaluation import membership_inference
    >>> audit = membership_inference(train, synthetic, unseen, id_col="patient_id",
    ...                              time_col="hour", condition_col="in_hospital_death"
    ...                              )  # doctest: +SKIP
    >>> print(audit.reading)  # doctest: +SKIP
    """
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or (
        n_components < 1
    ):
        raise InvalidParameterError(
            "The 'n_components' parameter of membership_inference must be an int in the range "
            f"[1, inf). Got {n_components!r} instead."
        )
    frames = {"real": real, "synthetic": synthetic, "holdout": holdout}
    roles = resolve_roles(
        frames, id_col=id_col, time_col=time_col, num_cols=num_cols, cat_cols=cat_cols,
        static_cols=static_cols, condition_col=condition_col,
    )
    cohorts, seeds = prepare_cohorts(
        frames, roles, max_patients=max_patients, random_state=random_state
    )
    scores = membership_scores(
        cohorts["real"], cohorts["synthetic"], cohorts["holdout"], n_components=n_components,
        random_state=int(seeds[2]),
    )
    return MembershipInference(scores=scores, reading=reading(scores))
