"""The report's words: the classifier named, the real-vs-real column, what was compared."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from cdmtehr.evaluation import evaluate, write_report  # noqa: E402
from cdmtehr.evaluation.report import far_values  # noqa: E402


@pytest.fixture(scope="module")
def cohorts(physionet):
    df, roles = physionet
    ids = df[roles["id_col"]].unique()
    parts = [df[df[roles["id_col"]].isin(ids[k * 30 : (k + 1) * 30])] for k in range(4)]
    return parts, roles


@pytest.fixture(scope="module")
def page(cohorts, tmp_path_factory):
    """A report written from evaluate's plain dict, with a real-vs-real baseline."""
    (real, synthetic, holdout, other), roles = cohorts
    options = dict(metrics=("fidelity", "discriminative"), discriminators=("summary",), n_splits=2)
    options.update(roles)
    scores = evaluate(real, synthetic, holdout, **options)
    baseline = evaluate(real, other, holdout, **options)
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(
        real, synthetic, path, holdout, scores=scores, baseline=baseline, max_patients=20,
        units={"HR": "bpm"}, plausible_ranges={"HR": (1, 300)}, **roles,
    )  # fmt: skip
    return path.read_text(encoding="utf-8"), scores


def test_the_headline_names_its_classifier_from_plain_scores(page):
    text, _ = page
    assert "gradient boosting on per-patient summaries" in text
    assert "(a classifier)" not in text


def test_the_scores_have_a_real_vs_real_column(page):
    text, _ = page
    assert "<th>real vs real</th>" in text


def test_the_lead_says_what_was_compared_with_what_and_why(page):
    text, _ = page
    assert "Compared: 20 real patients the model was fitted on (a random 20 of 30)" in text
    assert "held-out real patients the model never saw" in text
    assert "cut to at most 20 patients to bound the cost" in text


def test_the_page_says_which_real_patients_the_discriminators_compared(page):
    text, _ = page
    assert "compare the synthetic patients with the held-out real patients" in text
    assert "above a random held-out real one" in text


def test_the_page_has_the_schedule_of_care(page):
    text, _ = page
    assert "<h2>Schedule of care</h2>" in text and "1-h repeats real" in text
    assert "gaps between measurements" in text


def test_the_page_says_how_to_read_the_verdicts_together(page):
    text, _ = page
    assert "How to read the verdicts together" in text


def test_the_per_variable_table_has_values_to_check(page):
    text, _ = page
    assert "<th>values to check</th>" in text


# The summary classifier is the headline; the baseline's strongest is another classifier.
SCORES = {"disc_auroc": 0.815, "disc_summary_auroc": 0.815, "disc_sequence_auroc": 0.702,
          "disc_accuracy_gap": 0.2, "disc_summary_accuracy_gap": 0.2,
          "disc_sequence_accuracy_gap": 0.1}
FLOOR = {"disc_auroc": 0.529, "disc_summary_auroc": 0.475, "disc_sequence_auroc": 0.529,
         "disc_accuracy_gap": 0.03, "disc_summary_accuracy_gap": 0.01,
         "disc_sequence_accuracy_gap": 0.03}


def test_the_headline_sits_beside_its_own_classifiers_floor():
    from cdmtehr.evaluation.report import _glance, _scores_section

    box = _glance(SCORES, "summary", "holdout", FLOOR)
    assert "Headline: summary discriminator AUROC 0.815 (real vs real 0.475)" in box
    assert "the held-out real patients, whom the model never saw" in box
    # The sequence discriminator is in the box too, beside its own floor.
    assert "<td>sequence discriminator</td>" in box
    assert "<td class='num'>0.702</td><td class='num'>0.529</td>" in box
    table = _scores_section(SCORES, FLOOR, "summary")
    row = table[table.index("<code>disc_auroc</code>"):]
    assert row.index("0.475") < row.index("</tr>") and "0.529" not in row[: row.index("</tr>")]


def test_the_headline_without_a_baseline_says_how_to_get_one():
    from cdmtehr.evaluation.report import _glance

    box = _glance(SCORES, None, "training")
    assert "Headline: summary discriminator AUROC 0.815</b>" in box
    assert "--baseline" in box and "real patients the model was fitted on" in box


def test_the_command_line_names_each_discriminator_beside_its_floor():
    from cdmtehr.evaluation.report import describe_discriminators

    assert describe_discriminators({**SCORES, "disc_auroc": 0.702}, None, FLOOR) == [
        "sequence discriminator AUROC 0.702 (real vs real 0.529)",
        "summary discriminator AUROC 0.815 (real vs real 0.475)",
    ]


def test_implausible_values_are_flagged_and_heavy_tails_are_not():
    rng = np.random.default_rng(0)
    ph = np.r_[rng.normal(7.38, 0.07, 500), 735.0]
    assert far_values(ph).tolist() == [735.0]
    assert far_values(ph, (6.5, 8.0)).tolist() == [735.0]
    alt = rng.lognormal(np.log(45), 1.2, 3000)  # transaminases: a heavy but real tail
    assert far_values(alt).size == 0


def test_the_privacy_box_states_the_guarantee_or_its_absence():
    from cdmtehr.evaluation.report import _privacy_box

    assert "without differential privacy" in _privacy_box(None, "")
    privacy = {"epsilon": 2.5, "target_epsilon": 3.0, "delta": 1e-5, "steps": 120,
               "noise_multiplier": 1.2, "max_grad_norm": 1.0, "covers": "weights"}
    box = _privacy_box(privacy, "The density-ratio attack tells ...")
    assert "&epsilon; = 2.50" in box and "not the preprocessor" in box
    assert "density-ratio attack" in box
    assert "whole fitted model" in _privacy_box({**privacy, "covers": "model"}, "")
