"""Figures of the report, drawn with matplotlib's Agg canvas and returned as base64 PNG."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from .features import privacy_vectors

REAL_COLOR, SYN_COLOR = "#1f5f9e", "#e07b00"
CLASS_COLORS = ("#1f5f9e", "#c0392b", "#2e8b57", "#8e44ad", "#7f8c8d", "#b8860b")

# Fewer measured values than this on either side: a histogram would be noise, so the panel
# says how many there are instead (a synthetic Cholesterol drawn from 4 values).
MIN_VALUES = 20
# A positive variable whose 99.5th percentile is this many times its median (ALT, AST,
# troponins) is drawn on a log axis, where its bulk is not squeezed into one bin.
LOG_RATIO = 10.0


def axis_label(name, units=None):
    """The variable's name with its unit where known: 'Urine (mL)'."""
    unit = (units or {}).get(name)
    return f"{name} ({unit})" if unit else str(name)


def use_log_axis(values):
    """True for positive, heavy-tailed values (see LOG_RATIO)."""
    values = np.asarray(values, dtype="float64")
    values = values[np.isfinite(values)]
    if values.size < MIN_VALUES or values.min() <= 0:
        return False
    median, high = np.quantile(values, [0.5, 0.995])
    return bool(high >= LOG_RATIO * median)


def is_constant(*arrays):
    """True when the measured values of all arrays together take at most one value."""
    values = np.concatenate([np.asarray(a, dtype="float64") for a in arrays])
    values = values[np.isfinite(values)]
    return values.size == 0 or np.ptp(values) == 0


def require_matplotlib():
    """Import matplotlib's object API (no pyplot, no global backend switch) or explain."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "write_report needs matplotlib, an optional dependency of cdmtehr. Install it with "
            "`pip install cdmtehr[report]` (or `pip install matplotlib`)."
        ) from error
    return Figure, FigureCanvasAgg


def _new_figure(width, height):
    """Make a figure bound to the Agg canvas, independent of pyplot's state."""
    figure_cls, canvas_cls = require_matplotlib()
    figure = figure_cls(figsize=(width, height), dpi=100, layout="constrained")
    canvas_cls(figure)
    return figure


def to_base64(figure):
    """PNG bytes of a figure, base64-encoded for an ``<img src="data:...">``."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _grid(n_panels, n_cols, panel_width, panel_height):
    """Make a figure with a grid of axes; the unused ones are hidden."""
    n_rows = max(1, int(np.ceil(n_panels / n_cols)))
    figure = _new_figure(n_cols * panel_width, n_rows * panel_height)
    axes = figure.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return figure, axes[:n_panels]


def marginal_panels(real, synthetic):
    """The numeric panels of the marginals figure, and the constant columns left out.

    Returns
    -------
    panels : list of (name, real values, synthetic values)
        Measured values as float arrays.
    constant : list of str
        Columns whose measured values (real and synthetic together) take one value.
    """
    roles = real.roles
    panels = [(c, real.frame[c], synthetic.frame[c]) for c in roles.temporal_num_cols]
    panels += [(c, real.static[c], synthetic.static[c]) for c in roles.static_num_cols]
    if np.ptp(real.lengths) or np.ptp(synthetic.lengths) or real.lengths[0] != synthetic.lengths[0]:
        panels.append(("stay length", pd.Series(real.lengths), pd.Series(synthetic.lengths)))
    panels = [
        (n, a.dropna().to_numpy("float64"), b.dropna().to_numpy("float64")) for n, a, b in panels
    ]
    constant = [n for n, a, b in panels if is_constant(a, b)]
    return [p for p in panels if p[0] not in constant], constant


def marginals_figure(real, synthetic, per_variable, units=None):
    """Histograms of measured values, real (filled) against synthetic (line), per variable.

    Constant columns get no panel. A variable with fewer than `MIN_VALUES` measured values on
    either side gets a note instead of a histogram; heavy-tailed positive ones a log axis.
    """
    panels, _ = marginal_panels(real, synthetic)
    if not panels:
        return None
    figure, axes = _grid(len(panels), 6, 2.07, 1.9)
    for ax, (name, a, b) in zip(axes, panels, strict=True):
        ax.tick_params(labelsize=7)
        ks = per_variable["ks"].get(name, np.nan)
        ax.set_title(name + (f"  (KS {ks:.2f})" if np.isfinite(ks) else ""), fontsize=8.5)
        if min(a.size, b.size) < MIN_VALUES:
            ax.set_axis_off()
            ax.text(
                0.5, 0.5, f"{a.size:,} real and {b.size:,} synthetic\nvalues: too few to draw",
                ha="center", va="center", fontsize=7.5, color="#4a5263", transform=ax.transAxes,
            )  # fmt: skip
            continue
        both = np.concatenate([a, b])
        log = use_log_axis(a)
        if log:
            both = both[both > 0]
        # The central 99 % of the values, so that a few implausible ones do not flatten the rest.
        low, high = np.quantile(both, [0.005, 0.995])
        if high <= low:
            low, high = (low / 2, high * 2) if log else (low - 0.5, high + 0.5)
        bins = np.geomspace(low, high, 31) if log else np.linspace(low, high, 31)
        ax.hist(a, bins=bins, density=True, color=REAL_COLOR, alpha=0.35)
        ax.hist(b, bins=bins, density=True, histtype="step", color=SYN_COLOR, linewidth=1.4)
        if log:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            # A range within one decade gets labelled minor ticks, which overlap at this size.
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks([])
        ax.set_xlabel(axis_label(name, units) + (", log scale" if log else ""), fontsize=7)
        ax.set_ylabel("density", fontsize=7)
    return figure


def categories_figure(real, synthetic):
    """Share of each level of the categorical columns, real against synthetic bars."""
    roles = real.roles
    panels = [(c, real.frame[c], synthetic.frame[c]) for c in roles.temporal_cat_cols]
    panels += [(c, real.static[c], synthetic.static[c]) for c in roles.static_cat_cols]
    if roles.condition_col is not None:
        col = roles.condition_col
        panels.append((col, real.static[col], synthetic.static[col]))
    # A column with one level throughout (PhysioNet's "set" in one set) has nothing to compare.
    panels = [p for p in panels if pd.concat([p[1], p[2]]).astype(object).nunique(dropna=False) > 1]
    if not panels:
        return None
    figure, axes = _grid(len(panels), 5, 2.48, 2.0)
    for i, (ax, (name, a, b)) in enumerate(zip(axes, panels, strict=True)):
        levels = list(real.categories[name])
        shares = [_shares(a, levels), _shares(b, levels)]
        labels = [str(level) for level in levels]
        if shares[0][-1] or shares[1][-1]:
            labels.append("missing")
        x = np.arange(len(labels))
        ax.bar(x - 0.2, shares[0][: len(labels)], width=0.4, color=REAL_COLOR, alpha=0.6)
        ax.bar(x + 0.2, shares[1][: len(labels)], width=0.4, color=SYN_COLOR)
        ax.set_xticks(x, labels, fontsize=7, rotation=30 if len(labels) > 3 else 0)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(name, fontsize=8.5)
        ax.set_xlabel("level", fontsize=7)
        if i % 5 == 0:
            ax.set_ylabel("share", fontsize=7)
    return figure


def _shares(series, levels):
    """Share of each level, then of missing values."""
    codes = pd.Categorical(series, categories=levels).codes
    codes = np.where(codes < 0, len(levels), codes)
    return np.bincount(codes, minlength=len(levels) + 1) / max(len(codes), 1)


def missingness_figure(observed_real, observed_synthetic, names, time_label="time step"):
    """Heat maps of the share measured (variables x time step): real, synthetic, difference."""
    n_steps, n_vars = observed_real.shape
    figure = _new_figure(12.4, 1.3 + 0.19 * n_vars)
    axes = figure.subplots(1, 3, sharey=True)
    extent = (-0.5, n_steps - 0.5, n_vars - 0.5, -0.5)
    for ax, data, title in (
        (axes[0], observed_real, "Real"),
        (axes[1], observed_synthetic, "Synthetic"),
    ):
        image = ax.imshow(
            data.T,
            aspect="auto",
            cmap="viridis",
            vmin=0,
            vmax=1,
            interpolation="nearest",
            extent=extent,
        )
        ax.set_title(f"{title}: share measured", fontsize=10)
    figure.colorbar(image, ax=axes[:2], shrink=0.6, label="share of patients measured")
    # A fixed scale, so that hour-to-hour sampling noise stays pale and reports compare.
    image = axes[2].imshow(
        (observed_synthetic - observed_real).T,
        aspect="auto",
        cmap="RdBu_r",
        vmin=-0.3,
        vmax=0.3,
        interpolation="nearest",
        extent=extent,
    )
    axes[2].set_title("Synthetic minus real", fontsize=10)
    figure.colorbar(image, ax=axes[2], shrink=0.6, extend="both", label="difference")
    axes[0].set_ylabel("variable", fontsize=8)
    for ax in axes:
        ax.set_xlabel(time_label, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    # Shared rows, but the difference panel names them too: it is the one read across.
    for ax in (axes[0], axes[2]):
        ax.set_yticks(np.arange(n_vars), names, fontsize=7)
        ax.tick_params(axis="y", labelleft=True)
    return figure


def _band(values, members):
    """Mean and standard deviation over the measured values of the chosen patients per step."""
    chosen = values[members]
    count = np.sum(~np.isnan(chosen), axis=0)
    total = np.nansum(chosen, axis=0)
    mean = np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)
    square = np.nansum((chosen - mean) ** 2, axis=0)
    std = np.sqrt(np.divide(square, count, out=np.full(total.shape, np.nan), where=count > 1))
    mean[count < 5] = np.nan  # too few patients for a readable mean
    return mean, std


def trajectories_figure(real, synthetic, n_variables=12, units=None, time_label="time step"):
    """Mean course +- 1 sd over time of the most measured variables, by condition class.

    The bands stay within the range of the values measured (real and synthetic together):
    a standard deviation larger than the mean must not draw a urine output below zero.
    """
    roles = real.roles
    varying = [
        c for c in roles.temporal_num_cols if not is_constant(real.frame[c], synthetic.frame[c])
    ]
    if not varying:
        return None
    missing = real.frame[varying].isna().mean().sort_values(kind="stable")
    chosen = [roles.temporal_num_cols.index(c) for c in missing.index[:n_variables]]
    max_length = int(real.lengths.max())
    cohorts = []
    for cohort in (real, synthetic):
        values = cohort.sequences(max_length)[0][:, :, chosen]
        if roles.condition_col is not None:
            label = cohort.static[roles.condition_col].to_numpy()
        else:
            label = np.zeros(cohort.n_patients)
        cohorts.append((values, label))
    levels = list(real.categories[roles.condition_col]) if roles.condition_col else [0]
    figure, axes = _grid(len(chosen), 4, 3.1, 2.3)
    steps = np.arange(max_length)
    for j, ax in enumerate(axes):
        name = missing.index[j]
        both = np.concatenate([real.frame[name].to_numpy("float64"),
                               synthetic.frame[name].to_numpy("float64")])  # fmt: skip
        floor, ceiling = np.nanmin(both), np.nanmax(both)
        for i, level in enumerate(levels):
            color = CLASS_COLORS[i % len(CLASS_COLORS)]
            for (values, label), style, alpha in zip(
                cohorts, ("-", "--"), (0.18, 0.08), strict=True
            ):
                mean, std = _band(values[:, :, j], label == level)
                ax.plot(steps, mean, style, color=color, linewidth=1.3)
                ax.fill_between(
                    steps,
                    np.clip(mean - std, floor, ceiling),
                    np.clip(mean + std, floor, ceiling),
                    color=color,
                    alpha=alpha,
                    linewidth=0,
                )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(time_label, fontsize=7)
        ax.set_ylabel(axis_label(name, units), fontsize=7)
        ax.tick_params(labelsize=7)
    handles = [axes[0].plot([], [], "-", color="k")[0], axes[0].plot([], [], "--", color="k")[0]]
    labels = ["real", "synthetic"]
    if roles.condition_col is not None:
        for i, level in enumerate(levels):
            handles.append(axes[0].plot([], [], "-", color=CLASS_COLORS[i % 6], linewidth=4)[0])
            labels.append(f"{roles.condition_col} = {level}")
    figure.legend(handles, labels, loc="outside upper center", ncols=len(labels), fontsize=9)
    return figure


def correlations_figure(
    corr_real, corr_synthetic, pairs_real=None, pairs_synthetic=None, min_pairs=50, label="r"
):
    """Correlations of per-patient means: real over synthetic, and their difference.

    Real correlations fill the upper triangle and synthetic ones the lower, so a symmetric
    picture means the relations are kept. A cell is coloured only where at least `min_pairs`
    patients measure both variables: real patients for a real cell, synthetic ones for a
    synthetic cell, and both for a difference; other cells are grey. Constant variables
    (no correlation at all) are left out.
    """
    names = list(corr_real.columns)
    real, synthetic = corr_real.to_numpy(dtype="float64"), corr_synthetic.to_numpy(dtype="float64")
    n = len(names)
    enough_real = (
        np.ones((n, n), dtype=bool) if pairs_real is None else (np.asarray(pairs_real) >= min_pairs)
    )
    enough_syn = (
        np.ones((n, n), dtype=bool)
        if pairs_synthetic is None
        else (np.asarray(pairs_synthetic) >= min_pairs)
    )
    real = np.where(enough_real, real, np.nan)
    synthetic = np.where(enough_syn, synthetic, np.nan)
    keep = np.array([np.isfinite(corr_real.iloc[i].drop(names[i])).any() for i in range(n)])
    if keep.sum() < 2:
        return None
    names = [name for name, k in zip(names, keep, strict=True) if k]
    real, synthetic = real[np.ix_(keep, keep)], synthetic[np.ix_(keep, keep)]
    n = len(names)
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    combined = np.where(upper, real, synthetic)
    np.fill_diagonal(combined, np.nan)
    difference = synthetic - real  # NaN unless both sides have enough pairs
    np.fill_diagonal(difference, np.nan)
    figure = _new_figure(12.4, 5.6)
    axes = figure.subplots(1, 2)
    panels = (
        (axes[0], combined, "Real (upper right) and synthetic (lower left)", 1.0),
        (axes[1], difference, "Synthetic minus real", 0.5),
    )
    for ax, data, title, limit in panels:
        image = ax.imshow(data, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_facecolor("#d0d0d0")  # undefined or unreliable cells
        ax.set_xticks(np.arange(n), names, rotation=90, fontsize=6.5)
        ax.set_yticks(np.arange(n), names, fontsize=6.5)
        ax.set_xlabel("variable (patient mean)", fontsize=8)
        ax.set_ylabel("variable (patient mean)", fontsize=8)
        figure.colorbar(
            image,
            ax=ax,
            shrink=0.75,
            extend="both" if limit < 1 else "neither",
            label=label if limit == 1 else "difference in r",
        )
    axes[0].plot([-0.5, n - 0.5], [-0.5, n - 0.5], color="k", linewidth=0.6)
    return figure


def embedding_figure(real, synthetic, random_state=0):
    """Patients in the plane of the first two principal components of the real summaries."""
    real_x, syn_x = privacy_vectors([real.summary, synthetic.summary], reference=real.summary)
    pca = PCA(n_components=2, random_state=random_state).fit(real_x)
    figure = _new_figure(6.5, 5.2)
    ax = figure.subplots()
    for data, color, label in ((real_x, REAL_COLOR, "real"), (syn_x, SYN_COLOR, "synthetic")):
        points = pca.transform(data)
        ax.scatter(
            points[:, 0], points[:, 1], s=7, alpha=0.45, color=color, label=label, linewidths=0
        )
    share = pca.explained_variance_ratio_ * 100
    ax.set_xlabel(f"component 1 ({share[0]:.0f} % of the real variance)")
    ax.set_ylabel(f"component 2 ({share[1]:.0f} %)")
    ax.legend(markerscale=3)
    return figure


def care_figure(gap_counts, per_variable, n_labels=6):
    """Gaps between measurements (pooled) and one-hour repeats per variable, real and synthetic.

    Left: the share of gaps of 1, 2, ... hours (the last bin holds every longer gap), on a
    log axis so that the daily labs show beside the hourly vital signs. Right: each variable's
    share of one-hour repeats, real (x) against synthetic (y); the variables farthest from the
    diagonal are named.
    """
    if gap_counts[["real", "synthetic"]].to_numpy().sum(axis=0).min() == 0:
        return None
    figure = _new_figure(12.4, 4.4)
    left, right = figure.subplots(1, 2)
    gaps = gap_counts.index.to_numpy()
    shares = gap_counts / gap_counts.sum()
    left.bar(gaps, shares["real"], width=0.8, color=REAL_COLOR, alpha=0.45, label="real")
    left.step(gaps, shares["synthetic"], where="mid", color=SYN_COLOR, linewidth=1.6,
              label="synthetic")  # fmt: skip
    left.set_yscale("log")
    labels = [str(g) for g in gaps[:-1]] + [f"{gaps[-1]}+"]
    left.set_xticks(gaps, labels, fontsize=7)
    left.set_xlabel("hours between two measurements of a variable")
    left.set_ylabel("share of gaps (log scale)")
    left.set_title("Gaps between measurements, all variables", fontsize=10)
    left.legend()
    table = per_variable[["repeat_real", "repeat_synthetic"]].dropna()
    right.plot([0, 1], [0, 1], color="k", linewidth=0.6)
    right.scatter(table["repeat_real"], table["repeat_synthetic"], s=18, color=SYN_COLOR)
    distance = (table["repeat_synthetic"] - table["repeat_real"]).abs()
    for name in distance.sort_values(ascending=False, kind="stable").index[:n_labels]:
        point = (table.loc[name, "repeat_real"], table.loc[name, "repeat_synthetic"])
        right.annotate(str(name), point, fontsize=7, xytext=(3, 3), textcoords="offset points")
    right.set_xlim(-0.02, 1.02)
    right.set_ylim(-0.02, 1.02)
    right.set_xlabel("real share of one-hour repeats")
    right.set_ylabel("synthetic share of one-hour repeats")
    right.set_title("Measured again the next hour, per variable", fontsize=10)
    return figure
