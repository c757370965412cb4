"""evaluate(): every score of a synthetic cohort against the real one, in one call."""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..exceptions import InvalidParameterError
from ._frames import MIN_PATIENTS, resolve_roles
from ._glossary import FAMILIES, METRICS
from .care import care_tables, equal_sizes
from .discriminative import CLASSIFIERS, discriminative_scores
from .features import prepare_cohorts
from .membership import membership_scores, reading
from .fidelity import fidelity_scores
from .privacy import privacy_scores
from .utility import utility_scores


@dataclass
class EvaluationResult:
    """Scores of one synthetic cohort, with the tables behind them.

    Attributes
    ----------
    scores : dict of str to float
        The flat scores that :func:`evaluate` returns by default.
    per_variable : DataFrame
        One row per evaluated column: ``kind``, missing shares (``missing_real``,
        ``missing_synthetic``, ``missing_diff``), ``mean_real``, ``mean_synthetic``, ``ks``,
        ``w1`` (in real standard deviations), ``autocorr_diff`` and ``tv`` (categorical).
    correlation_real, correlation_synthetic : DataFrame
        Correlations (Spearman by default) of the per-patient means of the numeric columns.
    details : dict
        Arrays behind the plots (observed shares over time, autocorrelations), the name of
        the headline discriminator (``"disc_headline"``), which real patients the
        discriminators and the schedule of care were compared with (``"disc_reference"``:
        ``"holdout"`` or ``"training"``), and the schedule of care's tables
        (``"care_per_variable"``, ``"care_gap_counts"``; see :func:`care_statistics`).
    notes : list of str
        Scores that were skipped and why.
    timings : dict of str to float
        Seconds spent per family (for information; not deterministic).
    """

    scores: dict
    per_variable: pd.DataFrame
    correlation_real: pd.DataFrame
    correlation_synthetic: pd.DataFrame
    details: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    def to_frame(self):
        """Return the scores as a table with their meaning.

        Returns
        -------
        DataFrame
            One row per score (index ``metric``) with columns ``family``, ``value``,
            ``ideal``, ``verdict`` (``"good"``, ``"fair"``, ``"poor"`` or empty) and
            ``meaning``.
        """
        rows = []
        for key, value in self.scores.items():
            metric = METRICS.get(key)
            rows.append(
                {
                    "metric": key,
                    "family": metric.family if metric else "",
                    "value": value,
                    "ideal": metric.ideal if metric else "",
                    "verdict": metric.verdict(value) if metric else "",
                    "meaning": metric.meaning if metric else "",
                }
            )
        return pd.DataFrame(
            rows, columns=["metric", "family", "value", "ideal", "verdict", "meaning"]
        ).set_index("metric")


CORRELATIONS = ("spearman", "pearson")


def _check_parameters(metrics, discriminators, n_splits, max_lag, correlation, max_patients):
    """Raise InvalidParameterError, in scikit-learn's wording, for the first bad argument."""

    def fail(name, expected, got):
        raise InvalidParameterError(
            f"The '{name}' parameter of evaluate must be {expected}. Got {got!r} instead."
        )

    if isinstance(metrics, str) or not set(metrics) <= set(FAMILIES):
        fail("metrics", f"a collection drawn from {list(FAMILIES)}", metrics)
    if isinstance(discriminators, str) or not set(discriminators) <= set(CLASSIFIERS):
        fail("discriminators", f"a collection drawn from {list(CLASSIFIERS)}", discriminators)
    if "discriminative" in metrics and not discriminators:
        fail("discriminators", "non-empty when 'discriminative' is in metrics", discriminators)
    if correlation not in CORRELATIONS:
        fail("correlation", f"a str among {list(CORRELATIONS)}", correlation)
    for name, value, low in (("n_splits", n_splits, 2), ("max_lag", max_lag, 1)):
        if not isinstance(value, numbers.Integral) or value < low:
            fail(name, f"an int in the range [{low}, inf)", value)
    if max_patients is not None and (
        not isinstance(max_patients, numbers.Integral) or max_patients < MIN_PATIENTS
    ):
        fail("max_patients", f"None or an int in the range [{MIN_PATIENTS}, inf)", max_patients)


def evaluate(
    real,
    synthetic,
    holdout=None,
    *,
    id_col,
    time_col,
    num_cols=None,
    cat_cols=None,
    static_cols=None,
    condition_col=None,
    metrics=FAMILIES,
    discriminators=CLASSIFIERS,
    n_splits=5,
    max_lag=5,
    correlation="spearman",
    max_patients=2000,
    random_state=0,
    return_result=False,
):
    """Score a synthetic cohort of ICU time series against the real one.

    Five families of scores (definitions in docs/report.md): fidelity of the distributions,
    the schedule of care (which variables are measured together, how often, how they move
    from one measurement to the next), discriminators' ability to tell real from synthetic
    patients, utility of the synthetic data for predicting the condition, and privacy against
    a holdout.

    With a holdout, the discriminators and the schedule of care compare the synthetic
    patients with the holdout: real patients the generator never saw, so that a generator
    that memorised its training patients gains nothing. Without one they compare with
    `real`.

    Parameters
    ----------
    real : DataFrame
        The real training cohort (the data the generator was fitted on), long format: one
        row per (patient, time step).
    synthetic : DataFrame
        The generated cohort, same columns.
    holdout : DataFrame, optional
        Real patients the generator never saw. Needed for utility and privacy; without it
        those scores are skipped (see ``EvaluationResult.notes``). When given, it is also
        the real side of the discriminators and of the schedule of care.
    id_col, time_col : str
        Patient identifier and time column (integer steps, floats or datetimes; rows are put in
        time order within each patient, and the k-th row is time step k).
    num_cols, cat_cols : list of str, optional
        Numeric and categorical columns; None infers them from the dtypes of `real` (numbers
        are numeric; category, object, string and bool are categorical).
    static_cols : list of str, optional
        Per-patient columns (age, sex, unit); None takes the columns constant within every
        real patient. Pass ``[]`` for none. A static column also in `num_cols` or `cat_cols`
        is scored as that kind; otherwise its dtype in `real` decides.
    condition_col : str, optional
        A per-patient label (e.g. ``"in_hospital_death"``), scored by TSTR/TRTR and its
        prevalence, and used to split the report's trajectories. Never a feature.
    metrics : collection of str, default=all five
        Families to compute: "fidelity", "care", "discriminative", "utility", "privacy".
    discriminators : collection of str, default=all four
        Real-versus-synthetic classifiers: ``"summary"`` (gradient boosting on per-patient
        summaries), ``"sequence"`` (a GRU over the stays' values and measurement masks),
        ``"sequence_masks"`` (the same GRU on the masks alone: when things were measured)
        and ``"sequence_values"`` (on the values alone). The headline ``disc_auroc`` is the
        strongest of those run.
    n_splits : int, default=5
        Cross-validation folds of the summary discriminator (the sequence discriminators
        train on 70 % of the patients and are scored on the other 30 %).
    max_lag : int, default=5
        Largest lag of the autocorrelation comparison.
    correlation : {"spearman", "pearson"}, default="spearman"
        Coefficient of the cross-variable correlations (``corr_diff``). Spearman's ranks are
        the default because implausible raw values (a mean arterial pressure of 258 mmHg)
        can flip a Pearson correlation in one sample and not in another.
    max_patients : int or None, default=2000
        Each frame is cut to this many random patients first, which bounds the cost; None
        keeps all.
    random_state : int or None, default=0
        Seeds every draw; the same value gives the same scores on the same machine.
    return_result : bool, default=False
        Return an :class:`EvaluationResult` (scores plus per-variable tables) instead of the
        dict of scores.

    Returns
    -------
    dict of str to float or EvaluationResult
        The keys are listed, with their meaning, in ``cdmtehr.evaluation.METRICS``; missing
        families leave their keys out.

    Raises
    ------
    InvalidDataError
        If a named column is absent from a frame (the message names it and the frame), a
        numeric column holds no numbers, ids or times are missing, or a frame has fewer than
        10 patients.
    InvalidParameterError
        If an option is out of range.

    See Also
    --------
    real_vs_real : The same scores for two halves of the real data (the floor).
    write_report : An HTML page with these scores and plots.

    Notes
    -----
    The caller's frames are never modified. On 1000 versus 1000 patients (and a holdout of
    1000) of 48 hours and 44 variables it takes 30 to 90 seconds on two CPU cores, most of
    it in the discriminators; ``discriminators=("summary", "sequence")`` leaves out the two
    diagnostic variants of the sequence discriminator.

    Examples
    --------
    >>> from cdmtehr.evaluation import evaluate
    >>> scores = evaluate(real, synthetic, holdout, id_col="patient_id",
    ...                   time_col="hour", condition_col="in_hospital_death")  # doctest: +SKIP
    >>> scores["disc_auroc"]  # doctest: +SKIP
    0.51
    """
    _check_parameters(metrics, discriminators, n_splits, max_lag, correlation, max_patients)
    frames = {"real": real, "synthetic": synthetic, "holdout": holdout}
    roles = resolve_roles(
        frames,
        id_col=id_col,
        time_col=time_col,
        num_cols=num_cols,
        cat_cols=cat_cols,
        static_cols=static_cols,
        condition_col=condition_col,
    )
    cohorts, seeds = prepare_cohorts(
        frames, roles, max_patients=max_patients, random_state=random_state
    )
    result = score_cohorts(
        cohorts,
        seeds,
        metrics=metrics,
        discriminators=discriminators,
        n_splits=n_splits,
        max_lag=max_lag,
        correlation=correlation,
    )
    return result if return_result else result.scores


def score_cohorts(cohorts, seeds, **options):
    """Run the requested families on prepared cohorts; returns an EvaluationResult.

    `options` are :func:`evaluate`'s ``metrics``, ``discriminators``, ``n_splits``,
    ``max_lag`` and ``correlation``, with its defaults.

    Every native thread pool (OpenMP, BLAS) is held to one thread meanwhile: the models are
    small, and on a shared machine OpenMP workers spinning on busy cores made the boosting
    ten times slower than one thread. The caller's settings come back afterwards.
    """
    with threadpool_limits(limits=1):
        return _score_families(cohorts, seeds, **options)


def _score_families(
    cohorts,
    seeds,
    *,
    metrics=FAMILIES,
    discriminators=CLASSIFIERS,
    n_splits=5,
    max_lag=5,
    correlation="spearman",
):
    """Body of :func:`score_cohorts`."""
    real, synthetic, holdout = (cohorts.get(k) for k in ("real", "synthetic", "holdout"))
    scores, notes, timings, details = {}, [], {}, {}
    start = time.perf_counter()
    fidelity, per_variable, extra = fidelity_scores(
        real, synthetic, max_lag=max_lag, correlation=correlation
    )
    details["correlation"] = correlation
    details.update(extra)
    if "fidelity" in metrics:
        scores.update(fidelity)
        timings["fidelity"] = time.perf_counter() - start
    # The real patients the generator never saw are the honest reference: against its own
    # training patients, a generator that memorised them would look better than it is.
    reference = real if holdout is None else holdout
    details["disc_reference"] = "training" if holdout is None else "holdout"
    if "care" in metrics:
        start = time.perf_counter()
        rng = np.random.default_rng([seeds[0], 1])  # its own stream: scores keep their draws
        care = care_tables(*equal_sizes(reference, synthetic, rng))
        scores.update(care.summary)
        details["care_per_variable"] = care.per_variable
        details["care_gap_counts"] = care.gap_counts
        timings["care"] = time.perf_counter() - start
    if "discriminative" in metrics:
        start = time.perf_counter()
        disc, details["disc_headline"] = discriminative_scores(
            reference,
            synthetic,
            classifiers=tuple(discriminators),
            n_splits=n_splits,
            random_state=seeds[0],
        )
        scores.update(disc)
        if min(v for k, v in disc.items() if k.endswith("auroc")) < 0.3:
            notes.append(
                "A discriminator scored far below 0.5: it is systematically wrong, "
                "which happens when synthetic patients duplicate real ones; see the "
                "privacy scores."
            )
        timings["discriminative"] = time.perf_counter() - start
    if "utility" in metrics:
        if holdout is None or real.roles.condition_col is None:
            notes.append("Utility skipped: it needs both a holdout and a condition_col.")
        else:
            start = time.perf_counter()
            utility, utility_notes = utility_scores(real, synthetic, holdout, random_state=seeds[1])
            scores.update(utility)
            notes.extend(utility_notes)
            timings["utility"] = time.perf_counter() - start
    if "privacy" in metrics:
        if holdout is None:
            notes.append(
                "Privacy skipped: it needs a holdout of real patients the generator never saw."
            )
        else:
            start = time.perf_counter()
            scores.update(privacy_scores(real, synthetic, holdout, random_state=seeds[2]))
            attacks = membership_scores(real, synthetic, holdout, random_state=seeds[2])
            attacks.pop("n_attacked")
            scores.update(attacks)
            details["membership_reading"] = reading(attacks)
            timings["privacy"] = time.perf_counter() - start
    details["n_patients"] = {name: c.n_patients for name, c in cohorts.items()}
    return EvaluationResult(
        scores=scores,
        per_variable=per_variable,
        correlation_real=details.pop("corr_real"),
        correlation_synthetic=details.pop("corr_synthetic"),
        details=details,
        notes=notes,
        timings=timings,
    )


def real_vs_real(
    real,
    *,
    id_col,
    time_col,
    with_holdout=True,
    random_state=0,
    return_result=False,
    **kwargs,
):
    """Score one random part of the real data against another: the best a generator can do.

    The patients of `real` are split at random into two halves ("real" and "synthetic"), or
    three thirds when `with_holdout` (the third one is the holdout, so that utility and
    privacy get their floor too). Any difference from the ideal values is sampling noise of
    that cohort size.

    Parameters
    ----------
    real : DataFrame
        Real cohort, long format.
    id_col, time_col : str
        As in :func:`evaluate`.
    with_holdout : bool, default=True
        Split in three and score utility and privacy too.
    random_state : int or None, default=0
        Seeds the split and the scores.
    return_result : bool, default=False
        As in :func:`evaluate`.
    **kwargs
        Further keyword arguments of :func:`evaluate` (column roles, ``max_patients``, ...).

    Returns
    -------
    dict of str to float or EvaluationResult

    Raises
    ------
    InvalidDataError
        As :func:`evaluate`, e.g. when `id_col` is absent.
    """
    resolve_roles(
        {"real": real},
        id_col=id_col,
        time_col=time_col,
        **{
            k: kwargs[k]
            for k in ("num_cols", "cat_cols", "static_cols", "condition_col")
            if k in kwargs
        },
    )
    rng = np.random.default_rng(random_state)
    ids = pd.unique(real[id_col])
    part = rng.permutation(len(ids)) % (3 if with_holdout else 2)
    frames = [real.loc[real[id_col].isin(ids[part == k])] for k in range(3 if with_holdout else 2)]
    return evaluate(
        *frames,
        id_col=id_col,
        time_col=time_col,
        random_state=int(rng.integers(2**31 - 1)),
        return_result=return_result,
        **kwargs,
    )
