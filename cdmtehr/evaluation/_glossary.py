"""What each score means, its ideal, and rough good/fair bands: one table for results and report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    """Description of one score.

    Parameters
    ----------
    family : str
        "fidelity", "care", "discriminative", "utility" or "privacy".
    meaning : str
        One plain-language sentence.
    ideal : str
        The ideal value, as text.
    rule : str
        How a value is judged: "lower" (good if <= good, fair if <= fair), "higher" (>=),
        "near" (distance to `target` <= good, <= fair), or "info" (no judgement).
    good, fair : float
        Band limits.
    target : float
        Target value for "near".
    """

    family: str
    meaning: str
    ideal: str = ""
    rule: str = "info"
    good: float = np.nan
    fair: float = np.nan
    target: float = 0.0

    def verdict(self, value):
        """'good', 'fair', 'poor', or '' when the score has no band or is not a number."""
        if self.rule == "info" or value is None or not np.isfinite(value):
            return ""
        if self.rule == "higher":
            return "good" if value >= self.good else "fair" if value >= self.fair else "poor"
        gap = value if self.rule == "lower" else abs(value - self.target)
        return "good" if gap <= self.good else "fair" if gap <= self.fair else "poor"


# Co-measurement patterns: 1,000 real against 1,000 other real patients of PhysioNet 2012
# score a ratio of 1.03 and an unseen share of 0.16 (most patterns are rare); a model trained
# for ten minutes on a CPU scored 1.32 and 0.23. Both move with the cohort size.
PATTERNS_GOOD, PATTERNS_FAIR = 0.15, 0.3
UNSEEN_GOOD, UNSEEN_FAIR = 0.2, 0.3

# The bands are rules of thumb set from real-versus-real splits of PhysioNet 2012 (the floor)
# and from deliberately broken cohorts; compare with `real_vs_real` on your own data.
METRICS = {
    # Fidelity
    "ks_mean": Metric(
        "fidelity",
        "Kolmogorov-Smirnov distance between real and synthetic measured values, "
        "averaged over time-varying variables (0 = same distribution, 1 = no overlap).",
        "0",
        "lower",
        0.1,
        0.2,
    ),
    "w1_mean": Metric(
        "fidelity",
        "Earth mover's distance between real and synthetic values, in real "
        "standard deviations, averaged over time-varying variables.",
        "0",
        "lower",
        0.15,
        0.3,
    ),
    "static_ks_mean": Metric(
        "fidelity",
        "Kolmogorov-Smirnov distance of per-patient numbers (age, height, ...), averaged.",
        "0",
        "lower",
        0.1,
        0.2,
    ),
    "missing_rate_diff": Metric(
        "fidelity",
        "Difference in the share of missing values of each variable, averaged "
        "(0.05 = 5 percentage points).",
        "0",
        "lower",
        0.02,
        0.05,
    ),
    "missing_time_diff": Metric(
        "fidelity",
        "Difference in the share of patients measured at each hour, per variable "
        "(the missingness heat maps), averaged.",
        "0",
        "lower",
        0.03,
        0.07,
    ),
    "autocorr_diff": Metric(
        "fidelity",
        "Difference in how much a variable's value carries over to the next hours "
        "(autocorrelation at lags 1..L), averaged.",
        "0",
        "lower",
        0.05,
        0.1,
    ),
    "corr_diff": Metric(
        "fidelity",
        "Difference between real and synthetic correlations of patients' average "
        "values (e.g. heart rate with blood pressure), averaged over variable pairs "
        "weighted by how many patients measure both.",
        "0",
        "lower",
        0.07,
        0.1,
    ),
    "length_ks": Metric(
        "fidelity",
        "Kolmogorov-Smirnov distance between the distributions of stay lengths "
        "(number of time steps).",
        "0",
        "lower",
        0.05,
        0.15,
    ),
    "cat_tv_mean": Metric(
        "fidelity",
        "Difference in the shares of each level of time-varying categorical "
        "variables (total variation; 0.1 = 10 % of values would have to change).",
        "0",
        "lower",
        0.05,
        0.1,
    ),
    "static_tv_mean": Metric(
        "fidelity",
        "Difference in the shares of each level of per-patient categories "
        "(sex, ICU type, ...; total variation).",
        "0",
        "lower",
        0.05,
        0.1,
    ),
    "condition_tv": Metric(
        "fidelity",
        "Difference in the prevalence of the condition classes (e.g. mortality "
        "rate), total variation.",
        "0",
        "lower",
        0.02,
        0.05,
    ),
    # Schedule of care
    "care_patterns_real": Metric(
        "care",
        "Number of distinct co-measurement patterns (sets of numeric variables measured in "
        "the same hour) among the real patients' measured hours.",
    ),
    "care_patterns_synthetic": Metric(
        "care", "The same among as many synthetic patients' measured hours."
    ),
    "care_patterns_ratio": Metric(
        "care",
        "Synthetic over real number of co-measurement patterns: above 1, the synthetic data "
        "combines measurements more freely than care does; below 1, it repeats a few.",
        "1",
        "near",
        PATTERNS_GOOD,
        PATTERNS_FAIR,
        1.0,
    ),
    "care_unseen_pattern_share": Metric(
        "care",
        "Share of synthetic measured hours whose pattern of measured variables no real hour "
        "has (e.g. a full lab panel with no vital sign).",
        "real vs real",
        "lower",
        UNSEEN_GOOD,
        UNSEEN_FAIR,
    ),
    "care_gap_ks_median": Metric(
        "care",
        "Kolmogorov-Smirnov distance between real and synthetic gaps (hours between two "
        "measurements of a variable), median over variables.",
        "0",
        "lower",
        0.05,
        0.1,
    ),
    "care_first_hour_diff_mean": Metric(
        "care",
        "Difference in the mean hour of a variable's first measurement, in hours, averaged "
        "over variables.",
        "0",
        "lower",
        1.0,
        2.0,
    ),
    "care_repeat_real": Metric(
        "care",
        "Share of the real gaps of exactly one hour (a variable measured again the next "
        "hour), pooled over variables.",
    ),
    "care_repeat_synthetic": Metric("care", "The same for the synthetic patients."),
    "care_repeat_ratio": Metric(
        "care",
        "Synthetic over real share of one-hour repeats: above 1, the synthetic patients "
        "are measured hour after hour more often than real ones.",
        "1",
        "near",
        0.1,
        0.25,
        1.0,
    ),
    "care_empty_hours_real": Metric(
        "care", "Share of the real patients' hours with no numeric variable measured."
    ),
    "care_empty_hours_synthetic": Metric("care", "The same for the synthetic patients."),
    "care_empty_hours_diff": Metric(
        "care",
        "Synthetic minus real share of empty hours (0.05 = 5 percentage points more hours "
        "without any measurement).",
        "0",
        "near",
        0.02,
        0.05,
        0.0,
    ),
    "care_autocorr_diff_mean": Metric(
        "care",
        "Difference in the correlation of a measured value with the patient's next measured "
        "value of the same variable, averaged over variables.",
        "0",
        "lower",
        0.05,
        0.1,
    ),
    # Discriminative
    "disc_auroc": Metric(
        "discriminative",
        "HEADLINE. How well the strongest classifier that ran (of the four below) tells "
        "synthetic from real patients (AUROC; 0.5 = cannot tell, 1 = always can); its floor "
        "is the same classifier's real-vs-real score.",
        "0.5",
        "lower",
        0.6,
        0.75,
    ),
    "disc_accuracy_gap": Metric(
        "discriminative",
        "|accuracy - 0.5| of that classifier (TimeGAN's discriminative "
        "score; 0 = chance, 0.5 = perfect separation).",
        "0",
        "lower",
        0.1,
        0.2,
    ),
    "disc_summary_auroc": Metric(
        "discriminative",
        "AUROC of gradient boosting on per-patient summaries (mean, sd, "
        "min, max, last value, missing share per variable).",
        "0.5",
        "lower",
        0.6,
        0.75,
    ),
    "disc_summary_accuracy_gap": Metric(
        "discriminative", "|accuracy - 0.5| of the summary classifier.", "0", "lower", 0.1, 0.2
    ),
    "disc_sequence_auroc": Metric(
        "discriminative",
        "AUROC of a recurrent network (GRU) reading each stay hour by hour, values and "
        "measurement masks, pooled by mean and max over the hours.",
        "0.5",
        "lower",
        0.6,
        0.75,
    ),
    "disc_sequence_accuracy_gap": Metric(
        "discriminative", "|accuracy - 0.5| of the sequence classifier.", "0", "lower", 0.1, 0.2
    ),
    "disc_sequence_masks_auroc": Metric(
        "discriminative",
        "The same network on the measurement masks alone (values hidden): can the "
        "schedule of care alone give synthetic patients away?",
        "0.5",
        "lower",
        0.6,
        0.75,
    ),
    "disc_sequence_masks_accuracy_gap": Metric(
        "discriminative", "|accuracy - 0.5| of the masks-only classifier.", "0", "lower", 0.1, 0.2
    ),
    "disc_sequence_values_auroc": Metric(
        "discriminative",
        "The same network on the measured values alone (masks hidden, missing values 0).",
        "0.5",
        "lower",
        0.6,
        0.75,
    ),
    "disc_sequence_values_accuracy_gap": Metric(
        "discriminative",
        "|accuracy - 0.5| of the values-only classifier.",
        "0",
        "lower",
        0.1,
        0.2,
    ),
    # Utility
    "tstr_auroc": Metric(
        "utility",
        "AUROC for the condition on held-out real patients of a model trained on "
        "synthetic patients (train synthetic, test real).",
    ),
    "trtr_auroc": Metric(
        "utility", "The same model trained on as many real patients (the reference)."
    ),
    "tstr_trtr_auroc_ratio": Metric(
        "utility",
        "TSTR / TRTR AUROC: how much predictive value survives in the synthetic data.",
        "1",
        "higher",
        0.95,
        0.85,
    ),
    "tstr_auprc": Metric(
        "utility",
        "Area under the precision-recall curve of the synthetic-trained model "
        "(suits rare outcomes).",
    ),
    "trtr_auprc": Metric("utility", "The same for the real-trained model."),
    "tstr_trtr_auprc_ratio": Metric("utility", "TSTR / TRTR AUPRC.", "1", "higher", 0.9, 0.75),
    "trts_auroc": Metric(
        "utility",
        "The real-trained model scored on synthetic patients: close to TRTR when "
        "synthetic outcomes follow real courses.",
    ),
    # Privacy
    "dcr_synthetic_median": Metric(
        "privacy", "Median distance from a synthetic patient to the closest training patient."
    ),
    "dcr_holdout_median": Metric(
        "privacy",
        "Median distance from an unseen real patient to the closest training "
        "patient (the reference).",
    ),
    "dcr_ratio": Metric(
        "privacy",
        "Ratio of the two distances above; well below 1 means synthetic patients "
        "are near-copies of training patients.",
        ">= 1",
        "higher",
        0.9,
        0.7,
    ),
    "dcr_closer_to_train": Metric(
        "privacy",
        "Share of synthetic patients closer to a training patient than to an "
        "unseen one (equal-size sets).",
        "0.5",
        "lower",
        0.55,
        0.6,
    ),
    "nnaa_train": Metric(
        "privacy",
        "Nearest-neighbour adversarial accuracy against training patients "
        "(0.5 ideal; low = copies, high = unrealistic).",
        "0.5",
        "near",
        0.1,
        0.2,
        0.5,
    ),
    "nnaa_test": Metric(
        "privacy", "The same against unseen real patients.", "0.5", "near", 0.1, 0.2, 0.5
    ),
    "nnaa_privacy_loss": Metric(
        "privacy",
        "Test minus train adversarial accuracy; positive = synthetic data sits "
        "closer to the patients it learned from.",
        "0",
        "near",
        0.03,
        0.08,
        0.0,
    ),
    "mia_auroc": Metric(
        "privacy",
        "Membership-inference attack: how well closeness to synthetic patients "
        "reveals who was in the training data (AUROC; 0.5 = not at all).",
        "0.5",
        "lower",
        0.55,
        0.6,
    ),
    "domias_auroc": Metric(
        "privacy",
        "Density-ratio membership attack (DOMIAS): where synthetic patients are denser than "
        "the real population, it guesses 'was in training' (AUROC; 0.5 = not at all).",
        "0.5",
        "lower",
        0.55,
        0.6,
    ),
    "domias_tpr_at_1pct_fpr": Metric(
        "privacy",
        "Share of training patients the density-ratio attack finds while flagging only 1 % of "
        "unseen patients by mistake (0.01 = guessing).",
        "0.01",
        "lower",
        0.03,
        0.1,
    ),
    "closeness_auroc": Metric(
        "privacy",
        "The closeness attack on the same patients as the density-ratio attack (AUROC).",
        "0.5",
        "lower",
        0.55,
        0.6,
    ),
    "closeness_tpr_at_1pct_fpr": Metric(
        "privacy",
        "Share of training patients the closeness attack finds at 1 % false positives.",
        "0.01",
        "lower",
        0.03,
        0.1,
    ),
    "attribute_auroc_train": Metric(
        "privacy",
        "A model of the condition trained on synthetic patients, scored on training patients "
        "(AUROC).",
    ),
    "attribute_auroc_holdout": Metric(
        "privacy", "The same model scored on unseen real patients (AUROC)."
    ),
    "attribute_gap": Metric(
        "privacy",
        "Attribute inference: training minus unseen AUROC above; well above 0 means the "
        "synthetic data carries the training patients' outcomes.",
        "0",
        "lower",
        0.03,
        0.08,
    ),
}

FAMILIES = ("fidelity", "care", "discriminative", "utility", "privacy")
