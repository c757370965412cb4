"""write_report(): one self-contained HTML page with the scores and the plots behind them."""

from __future__ import annotations

import html
import pathlib

import numpy as np

from ..disclosure import bulk_bounds
from ._evaluate import EvaluationResult, score_cohorts
from ._frames import resolve_roles
from ._glossary import FAMILIES, METRICS
from ._plots import (
    MIN_VALUES,
    care_figure,
    categories_figure,
    correlations_figure,
    embedding_figure,
    marginal_panels,
    marginals_figure,
    missingness_figure,
    require_matplotlib,
    to_base64,
    trajectories_figure,
    use_log_axis,
)
from .features import prepare_cohorts

_FAMILY_TITLES = {
    "fidelity": "Fidelity: do values, missingness, correlations and dynamics match?",
    "care": "Schedule of care: are variables measured together, as often and as smoothly?",
    "discriminative": "Realism: can a classifier tell synthetic from real patients?",
    "utility": "Utility: does a model trained on synthetic patients work on real ones?",
    "privacy": "Privacy: do synthetic patients give away the training patients?",
}

# Per-variable columns judged with the bands of the matching summary score.
_CELL_BANDS = {
    "ks": "ks_mean",
    "w1": "w1_mean",
    "missing_diff": "missing_rate_diff",
    "autocorr_diff": "autocorr_diff",
    "tv": "cat_tv_mean",
}

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d2330;
       margin: 0; background: #f6f7f9; line-height: 1.45; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 20px; margin-top: 36px;
     border-bottom: 2px solid #e3e6eb; padding-bottom: 4px; } h3 { font-size: 16px; }
.lead { color: #4a5263; font-size: 15px; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0 16px; width: 100%; }
th, td { padding: 5px 9px; border-bottom: 1px solid #e3e6eb; text-align: left;
         vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.headline td { font-weight: 600; background: #fbf7e9; }
code { font-size: 13px; color: #3a4150; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 9px; font-size: 12px;
         font-weight: 600; color: #fff; }
.good { background: #2e8b57; } .fair { background: #d99a00; } .poor { background: #c0392b; }
td.cell-good { background: #e5f4ea; } td.cell-fair { background: #fdf1d6; }
td.cell-poor { background: #f9dedb; }
td.check { color: #8a4b00; font-size: 13px; }
.box { border: 1px solid #e3e6eb; border-left: 5px solid #1f5f9e; padding: 10px 16px;
       background: #f8fafc; margin: 12px 0; }
figure { margin: 16px 0 28px; } figure img { max-width: 100%; border: 1px solid #e3e6eb; }
figcaption { color: #4a5263; font-size: 14px; margin-top: 6px; }
.small { font-size: 13px; color: #5b6475; }
"""


def _fmt(value):
    """Three significant decimals, or a dash for a missing score."""
    if value is None or not np.isfinite(value):
        return "&ndash;"
    return f"{value:.3f}"


def _badge(verdict):
    return f'<span class="badge {verdict}">{verdict}</span>' if verdict else ""


def _scores_section(scores, baseline, headline=None):
    """One table per family: value, real-vs-real floor, ideal, verdict, meaning."""
    parts = []
    for family in FAMILIES:
        keys = [k for k, m in METRICS.items() if m.family == family and k in scores]
        if not keys:
            continue
        head = "<th>score</th><th>value</th>"
        head += "<th>real vs real</th>" if baseline else ""
        head += "<th>ideal</th><th>verdict</th><th>what it means</th>"
        rows = []
        for key in keys:
            metric = METRICS[key]
            cells = f"<td><code>{key}</code></td><td class='num'>{_fmt(scores[key])}</td>"
            if baseline:
                cells += f"<td class='num'>{_fmt(floor_of(key, baseline, headline))}</td>"
            cells += (
                f"<td class='num'>{html.escape(metric.ideal)}</td>"
                f"<td>{_badge(metric.verdict(scores[key]))}</td>"
                f"<td>{html.escape(metric.meaning)}</td>"
            )
            css = " class='headline'" if key == "disc_auroc" else ""
            rows.append(f"<tr{css}>{cells}</tr>")
        parts.append(
            f"<h3>{_FAMILY_TITLES[family]}</h3><table><tr>{head}</tr>" + "".join(rows) + "</table>"
        )
    return "".join(parts)


_CLASSIFIER_NAMES = {
    "summary": "gradient boosting on per-patient summaries",
    "sequence": "a GRU reading the stays' values and measurement masks hour by hour",
    "sequence_masks": "a GRU reading only when each variable was measured",
    "sequence_values": "a GRU reading only the measured values",
}

# The names the command line prints and the headline box uses.
_CLASSIFIER_LABELS = {
    "summary": "summary discriminator",
    "sequence": "sequence discriminator",
    "sequence_masks": "masks-only sequence discriminator",
    "sequence_values": "values-only sequence discriminator",
}

_REFERENCE_WORDS = {
    "holdout": "held-out real",
    "training": "real training",
}

_READING = """<p>How to read the verdicts together: each fidelity score checks one aspect at a
time (the values of one variable, how often it is measured, its correlation with another), while
the discriminators see whole patients and need only one giveaway to recognise them. So mostly
<i>good</i> fidelity beside a <i>poor</i> headline is common and not a contradiction: the parts
look right, their combination within a patient does not yet. Read the fidelity tables for what
to fix, the headline for how far the cohort is from indistinguishable, and judge both against
the <i>real vs real</i> column{baseline}.</p>"""


_NO_BASELINE = (
    " (pass <code>baseline=real_vs_real(...)</code> to <code>write_report</code>, or "
    "<code>--baseline</code> to <code>cdmtehr evaluate</code>, to show it)"
)


def headline_classifier(scores, headline=None):
    """Name of the classifier behind ``disc_auroc``: `headline` when known, else the one
    whose AUROC equals it (plain score dicts do not carry the name); None when none does."""
    if headline in _CLASSIFIER_NAMES:
        return headline
    value = scores.get("disc_auroc")
    return next((n for n in _CLASSIFIER_NAMES if scores.get(f"disc_{n}_auroc") == value), None)


def floor_of(key, baseline, headline):
    """The real-vs-real value to show beside `key`, or None.

    The headline keys take the same classifier's floor: the baseline's own ``disc_auroc`` may
    come from another classifier (the strongest on real against real), not a floor of this one.
    """
    if not baseline:
        return None
    if key in ("disc_auroc", "disc_accuracy_gap"):
        if headline is None:
            return None
        key = key.replace("disc_", f"disc_{headline}_", 1)
    return baseline.get(key)


def _glance(scores, headline, reference=None, baseline=None):
    """The headline box at the top of the page: the strongest discriminator, named, beside
    its own real-vs-real floor, then every discriminator that ran beside its floor."""
    if "disc_auroc" not in scores:
        return ""
    value = scores["disc_auroc"]
    verdict = METRICS["disc_auroc"].verdict(value)
    headline = headline_classifier(scores, headline)
    label = _CLASSIFIER_LABELS.get(headline, "discriminator")
    which = f" ({_CLASSIFIER_NAMES[headline]})" if headline in _CLASSIFIER_NAMES else ""
    real = _REFERENCE_WORDS.get(reference, "real")
    floor = floor_of("disc_auroc", baseline, headline)
    against = {
        "holdout": "compared the synthetic patients with the held-out real patients, whom "
        "the model never saw",
        "training": "compared the synthetic patients with the real patients the model was "
        "fitted on (no holdout was given, which flatters a model that memorised them)",
    }.get(reference, "compared the synthetic patients with the real ones")
    if floor is not None:
        title = f"{label} AUROC {_fmt(value)} (real vs real {_fmt(floor)})"
        floor_text = (
            f", where the same classifier scores {_fmt(floor)} on two random parts of the "
            "real data (the floor at this cohort size)"
        )
    else:
        title = f"{label} AUROC {_fmt(value)}"
        floor_text = f" (its real-vs-real floor is not shown{_NO_BASELINE})"
    rows = []
    for name in _CLASSIFIER_NAMES:
        key = f"disc_{name}_auroc"
        if key not in scores:
            continue
        cells = (
            f"<td>{_CLASSIFIER_LABELS[name]}{' (headline)' if name == headline else ''}</td>"
            f"<td class='small'>{_CLASSIFIER_NAMES[name]}</td>"
            f"<td class='num'>{_fmt(scores[key])}</td>"
        )
        if baseline:
            cells += f"<td class='num'>{_fmt(baseline.get(key))}</td>"
        rows.append(f"<tr>{cells}</tr>")
    table = ""
    if rows:
        head = "<th>classifier</th><th>what it reads</th><th>AUROC</th>"
        head += "<th>real vs real</th>" if baseline else ""
        table = f"<table><tr>{head}</tr>{''.join(rows)}</table>"
    return (
        f"<div class='box'><b>Headline: {title}</b> {_badge(verdict)}<br>The strongest "
        f"real-versus-synthetic classifier that ran{which} {against}: it ranks a random "
        f"synthetic patient above a random {real} one as &ldquo;synthetic&rdquo; with "
        f"probability {_fmt(value)}{floor_text}. 0.5 means it cannot tell them apart; 1 means "
        f"every synthetic patient is recognisable.{table}</div>"
    )


def describe_discriminators(scores, headline=None, baseline=None):
    """Each discriminator's AUROC in words, beside its real-vs-real floor, headline first.

    Parameters
    ----------
    scores : dict of str to float
        Scores of :func:`evaluate`.
    headline : str, optional
        The classifier behind ``disc_auroc`` (``EvaluationResult.details["disc_headline"]``);
        None finds it from the scores.
    baseline : dict of str to float, optional
        Scores of :func:`real_vs_real`; each classifier's own is its floor.

    Returns
    -------
    list of str
        E.g. ``["summary discriminator AUROC 0.815 (real vs real 0.475)", "sequence
        discriminator AUROC 0.962 (real vs real 0.525)"]``; empty when no discriminator ran.
    """
    headline = headline_classifier(scores, headline)
    names = [n for n in _CLASSIFIER_NAMES if f"disc_{n}_auroc" in scores]
    names.sort(key=lambda n: n != headline)  # stable: the headline first, then the usual order
    parts = []
    for name in names:
        key = f"disc_{name}_auroc"
        text = f"{_CLASSIFIER_LABELS[name]} AUROC {scores[key]:.3f}"
        if baseline and baseline.get(key) is not None:
            text += f" (real vs real {baseline[key]:.3f})"
        parts.append(text)
    return parts


def far_bounds(values, plausible=None, k=8.0):
    """The range outside which a value is one to check: `plausible`, or the bulk of `values`.

    Without a plausible range, the bounds are `k` interquartile ranges beyond the quartiles,
    on a log scale for positive values (so that a heavy but real tail, ALT in the thousands,
    is inside while pH 735 next to 7.35 is outside).

    Returns
    -------
    (float, float) or None
        Values below the first or above the second are to check; None when there is no
        bulk to judge by (fewer than the plots' minimum of values, or no spread).
    """
    if plausible is not None:
        return float(plausible[0]), float(plausible[1])
    values = np.asarray(values, dtype="float64")
    values = values[np.isfinite(values)]
    if values.size < MIN_VALUES:
        return None
    # The rule by which a fitted encoder keeps far values apart from the bulk (disclosure).
    return bulk_bounds(values, k)


def far_values(values, plausible=None, k=8.0):
    """Real values to check: outside `plausible` (low, high), or far outside the bulk.

    Without a plausible range, "far" is more than `k` interquartile ranges beyond the
    quartiles, on a log scale for positive values (see `far_bounds`).

    Returns
    -------
    ndarray
        The flagged values, sorted.
    """
    values = np.asarray(values, dtype="float64")
    values = values[np.isfinite(values)]
    bounds = far_bounds(values, plausible, k)
    if bounds is None:
        return values[:0]
    return np.sort(values[(values < bounds[0]) | (values > bounds[1])])


# Synthetic patients with values to check are flagged when they are more than this many times
# as frequent as real ones: the generator should not make recording errors more common.
_TAIL_EXCESS = 1.5


def _tail_counts(cohort, name, bounds):
    """(patients with a value outside `bounds`, patients, those values sorted) of a cohort."""
    if name in cohort.roles.temporal_num_cols:
        frame = cohort.frame
    elif name in cohort.roles.static_num_cols:
        frame = cohort.static.reset_index()
    else:
        return None
    ids = frame[cohort.roles.id_col].to_numpy()
    values = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    flagged = (values < bounds[0]) | (values > bounds[1])
    return len(np.unique(ids[flagged])), cohort.n_patients, np.sort(values[flagged])


def _shown(values):
    """The two lowest and two highest of sorted values, as text."""
    return ", ".join(f"{v:.4g}" for v in dict.fromkeys([*values[:2], *values[-2:]]))


def _check_text(name, real, plausible_ranges, synthetic=None):
    """The per-variable table's note on values to check, real beside synthetic, and whether
    the synthetic ones are too frequent: ('' or the note, flagged)."""
    if name in real.roles.temporal_num_cols:
        values = real.frame[name]
    elif name in real.roles.static_num_cols:
        values = real.static[name]
    else:
        return "", False
    plausible = (plausible_ranges or {}).get(name)
    # One range for both cohorts, from the real values: synthetic tails are judged by the
    # real bulk, not by their own.
    bounds = far_bounds(values, plausible)
    if bounds is None:
        return "", False
    where = (f"outside {bounds[0]:g}&ndash;{bounds[1]:g}" if plausible
             else f"far from the rest (outside {bounds[0]:.4g}&ndash;{bounds[1]:.4g})")
    counts = {"real": _tail_counts(real, name, bounds)}
    if synthetic is not None:
        counts["synthetic"] = _tail_counts(synthetic, name, bounds)
    if not any(c is not None and c[0] for c in counts.values()):
        return "", False
    parts = []
    for label, (flagged, n_patients, shown) in ((k, c) for k, c in counts.items() if c):
        text = f"{label} {flagged:,} of {n_patients:,} patients"
        if label == "real":
            text += f" {where}"
        if shown.size:
            text += f" ({_shown(shown)})"
        parts.append(text)
    note, flagged = "; ".join(parts), False
    if counts.get("synthetic"):
        (real_n, real_total, _), (syn_n, syn_total, _) = counts["real"], counts["synthetic"]
        real_share, syn_share = real_n / max(real_total, 1), syn_n / max(syn_total, 1)
        if syn_n and syn_share > _TAIL_EXCESS * real_share:
            flagged = True
            note = (f"<b>more often in synthetic patients: {100 * syn_share:.2g} % against "
                    f"{100 * real_share:.2g} %</b>; {note}")
    return note, flagged


def _variables_section(table, real=None, plausible_ranges=None, synthetic=None):
    """Per-variable table with cells shaded by the bands of the matching summary score; with
    `real`, a last column of values to check, synthetic beside real when given."""
    columns = [
        ("kind", "kind"),
        ("missing_real", "missing real"),
        ("missing_synthetic", "missing synth."),
        ("missing_diff", "missing diff."),
        ("mean_real", "mean real"),
        ("mean_synthetic", "mean synth."),
        ("ks", "KS"),
        ("w1", "W1 (sd)"),
        ("autocorr_diff", "autocorr. diff."),
        ("tv", "TV"),
    ]
    head = "<th>variable</th>" + "".join(f"<th>{label}</th>" for _, label in columns)
    head += "<th>values to check</th>" if real is not None else ""
    rows = []
    for name, row in table.iterrows():
        cells = [f"<td>{html.escape(str(name))}</td>"]
        for col, _ in columns:
            value = row[col]
            if col == "kind":
                cells.append(f"<td class='small'>{html.escape(str(value))}</td>")
                continue
            if col.startswith("missing"):
                text = "&ndash;" if not np.isfinite(value) else f"{100 * value:.1f} %"
            elif col.startswith("mean"):
                text = "&ndash;" if not np.isfinite(value) else f"{value:.4g}"
            else:
                text = _fmt(value)
            verdict = METRICS[_CELL_BANDS[col]].verdict(value) if col in _CELL_BANDS else ""
            css = f"num cell-{verdict}" if verdict else "num"
            cells.append(f"<td class='{css}'>{text}</td>")
        if real is not None:
            note, flagged = _check_text(name, real, plausible_ranges, synthetic)
            cells.append(f"<td class='check{' cell-poor' if flagged else ''}'>{note}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _figure(figure, caption, alt):
    if figure is None:
        return ""
    return (
        f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,"
        f"{to_base64(figure)}'><figcaption>{caption}</figcaption></figure>"
    )


def _marginals_caption(real, synthetic):
    """The histograms' caption, naming the panels drawn differently and those left out."""
    panels, constant = marginal_panels(real, synthetic)
    log = [n for n, a, b in panels if min(a.size, b.size) >= MIN_VALUES and use_log_axis(a)]
    few = [n for n, a, b in panels if min(a.size, b.size) < MIN_VALUES]
    parts = [
        "Blue bars: real; orange line: synthetic. Each panel shows the measured values of one "
        "variable (central 99 %), with its Kolmogorov-Smirnov distance. Shapes should overlap."
    ]
    for names, text in (
        (log, "on a log axis (heavy right tail)"),
        (few, f"not drawn: fewer than {MIN_VALUES} measured values on one side"),
        (constant, "left out: one value throughout"),
    ):
        if names:
            listed = ", ".join(html.escape(str(n)) for n in names)
            parts.append(f"{listed}: {text}.")
    return " ".join(parts)


def _figures_section(real, synthetic, result, random_state, units=None):
    """All plots, each with a caption saying how to read it."""
    roles = real.roles
    names = list(roles.temporal_num_cols) + list(roles.temporal_cat_cols)
    method = result.details.get("correlation", "pearson")
    time_label = f"time step ({roles.time_col})"
    min_pairs = result.details.get("corr_min_pairs", 50)
    condition = (
        f" by <code>{html.escape(roles.condition_col)}</code> (colours)"
        if roles.condition_col
        else ""
    )
    return "".join(
        [
            "<h3>Distributions of measured values</h3>",
            _figure(
                marginals_figure(real, synthetic, result.per_variable, units),
                _marginals_caption(real, synthetic),
                "histograms per variable",
            ),
            _figure(
                categories_figure(real, synthetic),
                "Share of each level of the categorical variables: real (blue) against "
                "synthetic (orange).",
                "category shares",
            ),
            "<h3>When variables are measured</h3>",
            _figure(
                missingness_figure(
                    result.details["observed_real"],
                    result.details["observed_synthetic"],
                    names,
                    time_label,
                ),
                "Share of patients with a measurement, per variable (rows) and time step "
                "(columns). The right panel is synthetic minus real: red where the synthetic "
                "data measures too often, blue where too rarely.",
                "missingness heat maps",
            ),
            "<h3>Courses over time</h3>",
            _figure(
                trajectories_figure(real, synthetic, units=units, time_label=time_label),
                f"Mean of the measured values at each time step, with a band of &plusmn;1 "
                f"standard deviation (cut at the smallest and largest value measured), for the "
                f"most often measured variables{condition}. Solid: real; dashed: synthetic.",
                "mean trajectories",
            ),
            "<h3>Relations between variables</h3>",
            _figure(
                correlations_figure(
                    result.correlation_real,
                    result.correlation_synthetic,
                    result.details.get("corr_pairs_real"),
                    result.details.get("corr_pairs_synthetic"),
                    min_pairs=min_pairs,
                    label=f"{method.capitalize()} r",
                ),
                f"{method.capitalize()} correlations between patients' average values "
                "(red positive, blue negative; real above the diagonal, synthetic below, so a "
                "symmetric picture means the relations are kept). The right panel is synthetic "
                f"minus real. A cell is grey where fewer than {min_pairs} patients measure both "
                "variables: real patients above the diagonal, synthetic ones below, either in "
                "the difference (corr_diff leaves out pairs rare among the real patients).",
                "correlation matrices",
            ),
            "<h3>Patients as a whole</h3>",
            _figure(
                embedding_figure(real, synthetic, random_state),
                "Each dot is a patient, placed by the two main axes of variation of the real "
                "patients' summaries (principal components). Synthetic patients should cover "
                "the same cloud, neither a corner of it nor outside it.",
                "PCA embedding",
            ),
        ]
    )


_CARE_COLUMNS = [
    ("gap_ks", "gap KS", "{:.3f}"),
    ("first_hour_real", "first hour real", "{:.1f}"),
    ("first_hour_synthetic", "first hour synth.", "{:.1f}"),
    ("repeat_real", "1-h repeats real", "{:.0%}"),
    ("repeat_synthetic", "1-h repeats synth.", "{:.0%}"),
    ("autocorr_real", "lag-1 autocorr. real", "{:.2f}"),
    ("autocorr_synthetic", "lag-1 autocorr. synth.", "{:.2f}"),
    ("step_real", "median step real", "{:.3g}"),
    ("step_synthetic", "median step synth.", "{:.3g}"),
]


def _care_section(details, baseline, reference):
    """The schedule of care: its per-variable table and its figure, or '' when not computed."""
    table = details.get("care_per_variable")
    if table is None:
        return ""
    head = "<th>variable</th>" + "".join(f"<th>{label}</th>" for _, label, _ in _CARE_COLUMNS)
    rows = []
    for name, row in table.iterrows():
        cells = [f"<td>{html.escape(str(name))}</td>"]
        for col, _, form in _CARE_COLUMNS:
            value = row[col]
            text = "&ndash;" if not np.isfinite(value) else html.escape(form.format(value))
            verdict = METRICS["care_gap_ks_median"].verdict(value) if col == "gap_ks" else ""
            cells.append(f"<td class='{f'num cell-{verdict}' if verdict else 'num'}'>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    real = _REFERENCE_WORDS.get(reference, "real")
    floor = (
        "Read each summary score in the <i>Schedule of care</i> table above beside its real "
        "vs real floor: two samples of real patients differ too, most in rare variables."
        if baseline
        else "Pass <code>baseline=real_vs_real(...)</code> to <code>write_report</code>, or "
        "<code>--baseline</code> to <code>cdmtehr evaluate</code>, to see what two samples of "
        "real patients score."
    )
    figure = _figure(
        care_figure(details["care_gap_counts"], table),
        f"Left: share of the gaps between two measurements of a variable that last 1, 2, ... "
        f"hours, all variables pooled; blue bars: {real} patients, orange line: synthetic. "
        "Right: per variable, the share of measurements repeated the next hour, real (x) "
        "against synthetic (y); points off the diagonal are measured too often or too "
        "rarely, and the farthest are named.",
        "gaps between measurements",
    )
    return (
        "<h2>Schedule of care</h2><p class='small'>When each variable is measured, and how its "
        f"value moves between two measurements, for the {real} patients and as many synthetic "
        "ones. <i>Gap KS</i>: Kolmogorov-Smirnov distance between the hours separating two "
        "measurements; <i>first hour</i>: mean hour of the first measurement; <i>1-h "
        "repeats</i>: share of measurements taken again the next hour; <i>lag-1 autocorr.</i>: "
        "rank correlation of a measured value with the next one; <i>median step</i>: median "
        f"absolute change between them, in the variable's unit. {floor}</p>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table>{figure}"
    )


def _privacy_box(privacy, attacks):
    """Differential privacy's guarantee (or its absence) and the attacks in plain words."""
    if privacy is None:
        guarantee = (
            "The model was trained without differential privacy: no number bounds what an "
            "attacker could learn about a training patient; the attacks below are the evidence."
        )
    else:
        covers = (
            "the whole fitted model (the preprocessor learned from public data)"
            if privacy.get("covers") == "model"
            else "the training steps (the weights), not the preprocessor's statistics "
            "(quantiles, vocabularies, longest stay, class prior, which values have masks), "
            "which come from the training patients"
        )
        guarantee = (
            f"Trained with differential privacy (DP-SGD): &epsilon; = {privacy['epsilon']:.2f} "
            f"spent of a target of {privacy['target_epsilon']:g}, at &delta; = "
            f"{privacy['delta']:.1e}, over {privacy['steps']:,} steps (noise multiplier "
            f"{privacy['noise_multiplier']:.2f}, each patient's gradient clipped to "
            f"{privacy['max_grad_norm']:g}). It covers {covers}. Smaller &epsilon; is more "
            "private; about 1 is strong, 10 is weak but still a bound."
        )
    reading = f"<p>{html.escape(attacks)}</p>" if attacks else ""
    return (
        f"<h3>Privacy guarantee and attacks</h3><div class='box'><p>{guarantee}</p>{reading}</div>"
    )


def _compared(cohorts, given, max_patients, reference=None):
    """The lead's sentences on which patients were compared with which, and why."""
    parts = []
    for name, what in (
        ("real", "real patients the model was fitted on"),
        ("synthetic", "synthetic patients"),
        ("holdout", "held-out real patients the model never saw"),
    ):
        if name not in cohorts:
            continue
        used, total = cohorts[name].n_patients, given[name]
        drawn = f" (a random {used:,} of {total:,})" if used < total else ""
        parts.append(f"{used:,} {what}{drawn}")
    text = "Compared: " + ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    if any(c.n_patients < given[n] for n, c in cohorts.items()):
        text += f"; each cohort is cut to at most {max_patients:,} patients to bound the cost"
    text += "."
    if reference == "holdout":
        text += (
            " The discriminators and the schedule of care compare the synthetic patients with "
            "the held-out real patients, whom the model never saw: a model that memorised "
            "its training patients gains nothing there."
        )
    elif reference == "training":
        text += (
            " The discriminators and the schedule of care compare the synthetic patients with "
            "the real training patients (no holdout was given), which flatters a model that "
            "memorised them."
        )
    return text


def write_report(
    real,
    synthetic,
    path,
    holdout=None,
    *,
    id_col,
    time_col,
    num_cols=None,
    cat_cols=None,
    static_cols=None,
    condition_col=None,
    scores=None,
    baseline=None,
    title="Synthetic ICU data: evaluation report",
    max_patients=2000,
    random_state=0,
    units=None,
    plausible_ranges=None,
    privacy=None,
):
    """Write a self-contained HTML report comparing a synthetic cohort with the real one.

    The page holds a table of the scores (each with its meaning in one sentence, its ideal
    value and a good/fair/poor hint), a per-variable table, and plots embedded as PNG:
    histograms of every variable, missingness heat maps over time, mean trajectories by
    condition class, correlation matrices and a PCA map of the patients. It needs no network
    access and no files beside it.

    Parameters
    ----------
    real, synthetic, holdout : DataFrame
        As in :func:`evaluate`.
    path : str or path-like
        Where to write the ``.html`` file (the folder must exist).
    id_col, time_col, num_cols, cat_cols, static_cols, condition_col
        Column roles, as in :func:`evaluate`.
    scores : dict or EvaluationResult, optional
        Scores computed before (e.g. ``evaluate(..., return_result=True)``); None computes
        them with :func:`evaluate`'s defaults.
    baseline : dict or EvaluationResult, optional
        Scores of :func:`real_vs_real` on the same data, shown beside each score as the floor.
    title : str
        Page title.
    max_patients : int or None, default=2000
        Patients per frame used for the plots (and the scores, when computed here).
    random_state : int or None, default=0
        Seeds the patient draws and the scores.
    units : dict of str to str, optional
        Unit of each variable, shown on the axes (e.g.
        ``cdmtehr.datasets.PHYSIONET2012_UNITS``).
    plausible_ranges : dict of str to (float, float), optional
        Physiologically possible range of each numeric variable; the per-variable table flags
        real values outside it (e.g. ``cdmtehr.datasets.PHYSIONET2012_RANGES``). A variable
        without a range has values far outside the bulk of the real ones flagged instead.
    privacy : dict, optional
        The generator's differential-privacy accounting (``CDMTSynthesizer.privacy_``),
        shown beside the membership attacks; None says it was trained without.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ImportError
        If matplotlib (the ``report`` extra) is not installed.
    InvalidDataError
        As :func:`evaluate`.
    """
    require_matplotlib()
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
    if isinstance(scores, EvaluationResult):
        result = scores
    else:
        metrics = ("fidelity", "care") if scores is not None else FAMILIES
        result = score_cohorts(cohorts, seeds, metrics=metrics)
        if scores is not None:
            result.scores = dict(scores)
    if isinstance(baseline, EvaluationResult):
        baseline = baseline.scores
    given = {
        name: frame[roles.id_col].nunique() for name, frame in frames.items() if frame is not None
    }
    reference = result.details.get("disc_reference")
    headline = headline_classifier(result.scores, result.details.get("disc_headline"))
    compared = _compared(cohorts, given, max_patients, reference)
    n_vars = len(roles.temporal_num_cols) + len(roles.temporal_cat_cols) + len(roles.static_cols)
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in result.notes)
    notes = f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""
    condition = (
        f"; condition <code>{html.escape(roles.condition_col)}</code>"
        if roles.condition_col
        else ""
    )
    privacy_box = ""
    if "mia_auroc" in result.scores:  # the privacy family ran
        privacy_box = _privacy_box(privacy, result.details.get("membership_reading"))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body><main>
<h1>{html.escape(title)}</h1>
<p class="lead">{compared} {n_vars} variables
({len(roles.temporal_num_cols)} numeric and {len(roles.temporal_cat_cols)} categorical over time,
{len(roles.static_cols)} per patient){condition}.</p>
{_glance(result.scores, headline, reference, baseline)}
<h2>Scores</h2>
<p class="small">Verdicts are rules of thumb; the <i>real vs real</i> column, when shown,
is what two random parts of the real data score against each other, the best a generator
can hope for at this cohort size; the headline's is the same classifier's.</p>
{_READING.format(baseline="" if baseline else _NO_BASELINE)}
{_scores_section(result.scores, baseline, headline)}
{privacy_box}
{notes}
<h2>Per variable</h2>
<p class="small">Missing shares are per row for time-varying variables and per patient for
static ones; KS and W1 compare the measured values (W1 in real standard deviations); TV is
the total variation between level shares. Shading follows the bands of the summary scores.
<i>Values to check</i> counts the patients with values outside the variable's plausible range
(or, without one, far outside the bulk of the real values), real beside synthetic: recording or
unit errors such as a pH of 735 for 7.35, which the generator learns like any other value. It
is shaded where synthetic patients have them more than {_TAIL_EXCESS:g} times as often as real
ones.</p>
{_variables_section(result.per_variable, cohorts["real"], plausible_ranges,
                    cohorts["synthetic"])}
{_care_section(result.details, baseline, reference)}
<h2>Figures</h2>
{_figures_section(cohorts["real"], cohorts["synthetic"], result, random_state, units)}
<p class="small">Written by cdmtehr.evaluation. Definitions: Kolmogorov-Smirnov and
Wasserstein distances on measured values; discriminative score after TimeGAN (Yoon et al.
2019); TSTR/TRTR after Esteban et al. (2017); adversarial accuracy after Yale et al.
(2020).</p>
</main></body></html>
"""
    path = pathlib.Path(path)
    path.write_text(page, encoding="utf-8")
    return path
