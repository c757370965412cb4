"""The completion methods of `CDMTSynthesizer`: sample given columns, forecast, impute.

Each is a function of the fitted synthesizer, attached to the class as a method. They encode
what is known (`frames`), draw the rest with replacement conditioning
(`sampling.inpainting`), and put the known cells of the caller's frame back into the result.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .._parameters import (
    COMPLETION_ARGUMENTS,
    SAMPLE_ARGUMENTS,
    as_random_state,
    check_parameters,
    torch_generator,
)
from ..preprocessing import EncodedCohort
from .frames import given_frame, given_patients, imputation_patients, prefix_patients

DRAW_COLUMN = "draw"


def _check(synth, method, arguments) -> None:
    synth._check_fitted(method)
    constraints = {**SAMPLE_ARGUMENTS, **COMPLETION_ARGUMENTS}
    check_parameters(arguments, constraints, f"CDMTSynthesizer.{method}")


def _draw(synth, known, classes, n_draws, steps, sampler, guidance_scale, rng):
    """`n_draws` completions of the `known` patients (draw after draw) as one EncodedCohort."""
    known = known.repeat(n_draws)
    classes = np.tile(classes, n_draws)
    chunks = synth._generate(classes, steps, sampler, guidance_scale, torch_generator(rng),
                             known=known.states(synth.model_, synth.device_))
    cohort = EncodedCohort.concat(list(chunks))
    # Cells measured with an unknown value stay measured whatever mask was drawn for them;
    # the null class (unconditional completion) is decoded as any class, the column is dropped.
    return replace(
        cohort, observed=cohort.observed | known.hidden,
        static_observed=cohort.static_observed | known.static_hidden,
        condition=np.minimum(cohort.condition, max(len(synth.classes_) - 1, 0)),
    )


def _patients_of_rows(lengths) -> tuple:
    """Patient index and time step of each row of a decoded cohort (patient-major)."""
    patient = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return patient, np.arange(len(patient)) - starts[patient]


def _stack_draws(frame, draw, n_draws) -> pd.DataFrame:
    if n_draws > 1:
        frame.insert(0, DRAW_COLUMN, np.asarray(draw, dtype=np.int64))
    return frame


# -- sample given ----------------------------------------------------------------------------------
def sample_given(synth, n, given, condition, steps, sampler, guidance_scale, random_state):
    """`CDMTSynthesizer.sample` with ``given`` per-patient columns (see its docstring)."""
    owner = "CDMTSynthesizer.sample"
    _check(synth, "sample", {"n": n, "steps": steps, "sampler": sampler,
                             "guidance_scale": guidance_scale, "random_state": random_state})
    pre = synth.preprocessor_
    given = given_frame(n, given, pre, owner)
    rng = as_random_state(random_state)
    known, classes = given_patients(given, pre, synth.layout_, condition=condition,
                                    prior=synth.class_prior_, rng=rng, owner=owner)
    cohort = _draw(synth, known, classes, 1, steps, sampler, guidance_scale, rng)
    frame = pre.inverse_transform(cohort)
    patient, _ = _patients_of_rows(cohort.lengths)
    for column in given.columns:  # the given values, exactly as given
        values = given[column]
        rows = np.flatnonzero(values.notna().to_numpy()[patient])
        if rows.size:
            filled = frame[column].copy()
            filled.iloc[rows] = values.to_numpy()[patient[rows]]
            frame[column] = filled
    return frame


# -- forecast --------------------------------------------------------------------------------------
def forecast(self, df_prefix, horizon=None, n_draws=1, *, condition=None, steps=50,
             sampler="euler", guidance_scale=1.0, random_state=None):
    """Generate the rest of each stay given its first time steps.

    The prefix (values, and which were measured: NaN means "not measured") is held fixed while
    the model draws what follows, conditioned on it, by replacement in the sampler (no
    retraining). Several draws per patient give the uncertainty of the forecast.

    Parameters
    ----------
    df_prefix : pandas.DataFrame
        The first rows of each patient's stay, in the fitted long format (id and time
        columns needed; the rows of a regular grid without gaps from its start). Never
        modified. Modelled columns it lacks are unknown: drawn, and not returned. A column
        the model does not know is an error.
    horizon : int or None, default=None
        Time steps to generate after each prefix. None lets the model decide where each stay
        ends, up to the fitted grid's length; with a horizon each stay goes on for exactly
        that many steps, which must fit in the grid.
    n_draws : int, default=1
        Completions per patient. With more than one, the result has a leading ``draw``
        column (0 .. n_draws - 1) and holds the draws one after the other.
    condition : None, class, dict or array-like, default=None
        The condition of each patient when `df_prefix` has no condition column (as in
        `sample`; a contradicting column is an error). Without either, stays are completed
        by the unconditional model.
    steps, sampler, guidance_scale, random_state
        As in `sample`.

    Returns
    -------
    pandas.DataFrame
        `df_prefix`'s columns, one row per time step of each completed stay, sorted by
        (draw,) patient and time, with a RangeIndex. The prefix rows are the input's rows,
        unchanged; per-patient columns keep their given values on the generated rows.

    Raises
    ------
    InvalidParameterError
        For a prefix longer than the fitted grid leaves (with the horizon), unknown columns,
        or a `condition` that contradicts the frame's condition column.
    InvalidDataError
        For a frame that does not fit the roles (e.g. times off the fitted grid).

    Examples
    --------
    >>> first_day = df[df["hour"] < 24]  # doctest: +SKIP
    >>> futures = synth.forecast(first_day, horizon=24, n_draws=20)  # doctest: +SKIP
    """
    _check(self, "forecast", {"horizon": horizon, "n_draws": n_draws, "steps": steps,
                              "sampler": sampler, "guidance_scale": guidance_scale,
                              "random_state": random_state})
    pre, owner = self.preprocessor_, "CDMTSynthesizer.forecast"
    known, classes, rows, present = prefix_patients(
        df_prefix, pre, self.layout_, horizon=horizon, condition=condition, owner=owner
    )
    rng = as_random_state(random_state)
    cohort = _draw(self, known, classes, n_draws, steps, sampler, guidance_scale, rng)
    n = known.n_patients
    # Each stay goes on from its own start, not from the start channel's encoded copy.
    time_col = pre.roles_.time_col
    starts = df_prefix[time_col].iloc[rows.first_rows[np.tile(np.arange(n), n_draws)]]
    generated = pre.inverse_transform(cohort, starts=starts.to_numpy())
    patient, position = _patients_of_rows(cohort.lengths)
    start = rows.lengths[patient % n]
    keep = position >= start
    if horizon is not None:
        keep &= position < start + horizon
    future = generated.loc[keep, present].reset_index(drop=True)
    future_patient = patient[keep] % n
    per_patient = [c for c in present if c == pre.roles_.id_col or c == pre.roles_.condition_col
                   or c in pre.roles_.static_cols]
    for column in per_patient:
        future[column] = df_prefix[column].iloc[rows.first_rows[future_patient]].to_numpy()
        future[column] = future[column].astype(df_prefix[column].dtype)
    prefix = df_prefix.iloc[rows.order][present].reset_index(drop=True)
    frame = pd.concat([prefix] * n_draws + [future], ignore_index=True)
    draw = np.concatenate([np.repeat(np.arange(n_draws), len(prefix)), patient[keep] // n])
    which = np.concatenate([np.tile(rows.patient, n_draws), future_patient])
    when = np.concatenate([np.tile(rows.position, n_draws), position[keep]])
    order = np.lexsort((when, which, draw))
    frame = frame.take(order).reset_index(drop=True)
    return _stack_draws(frame, draw[order], n_draws)


# -- impute ----------------------------------------------------------------------------------------
def impute(self, df, mask=None, n_draws=1, *, nan="unmeasured", condition=None, steps=50,
           sampler="euler", guidance_scale=1.0, random_state=None):
    """Draw the cells of stays that were measured but whose value is unknown.

    Mark the cells in `mask`, a boolean frame aligned with `df` (True: measured, value
    unknown), e.g. ``df[["HR", "MAP"]].isna()`` restricted to the hours of a broken monitor,
    or the cells of a validation split. Their values are drawn from the model given
    everything else known of the stay (by replacement in the sampler, no retraining). NaN
    outside `mask` keeps its meaning "not measured" unless `nan` says otherwise.

    Parameters
    ----------
    df : pandas.DataFrame
        Whole stays in the fitted long format. Never modified. Modelled columns it lacks are
        unknown (drawn, not returned); a column the model does not know is an error.
    mask : pandas.DataFrame of bool, ndarray of bool or None, default=None
        Cells to draw: a frame with `df`'s index and some of its columns (the others count as
        all False), or an array of `df`'s shape. The value in `df` under a True cell is
        ignored. A per-patient column marked on any row is drawn for the whole stay. Ids,
        times and the condition cannot be marked.
    n_draws : int, default=1
        Draws per patient (multiple imputation). With more than one, the result has a
        leading ``draw`` column and holds the completed copies of `df` one after the other.
    nan : {"unmeasured", "measured", "unknown"}, default="unmeasured"
        What a NaN outside `mask` means in a numeric column: "unmeasured" keeps it NaN;
        "measured" draws a value for it too (a classical imputer's behaviour); "unknown"
        lets the model draw whether it was measured, and its value if so.
    condition : None, class, dict or array-like, default=None
        As in `forecast`.
    steps, sampler, guidance_scale, random_state
        As in `sample`.

    Returns
    -------
    pandas.DataFrame
        A copy of `df` (its columns, dtypes, row order and index; repeated per draw) with the
        drawn cells filled; every other cell is as given.

    Raises
    ------
    InvalidParameterError
        For a malformed `mask`, unknown columns, or a `condition` that contradicts the
        frame's condition column.
    InvalidDataError
        For a frame that does not fit the roles (e.g. a stay longer than the fitted grid).

    Examples
    --------
    >>> broken = df["hour"].between(10, 14).to_numpy()[:, None]  # doctest: +SKIP
    >>> hidden = df[["HR", "MAP"]].notna() & broken  # doctest: +SKIP
    >>> completed = synth.impute(df, mask=hidden, n_draws=10)  # doctest: +SKIP
    """
    _check(self, "impute", {"n_draws": n_draws, "nan": nan, "steps": steps, "sampler": sampler,
                            "guidance_scale": guidance_scale, "random_state": random_state})
    pre, owner = self.preprocessor_, "CDMTSynthesizer.impute"
    known, classes, rows, fill = imputation_patients(
        df, mask, pre, self.layout_, nan=nan, condition=condition, owner=owner
    )
    rng = as_random_state(random_state)
    cohort = _draw(self, known, classes, n_draws, steps, sampler, guidance_scale, rng)
    generated = pre.inverse_transform(cohort)
    n_rows = len(df)
    generated_row = np.empty(n_rows, dtype=np.int64)
    generated_row[rows.order] = np.arange(n_rows)  # the lengths are the input's
    copies = []
    for draw in range(n_draws):
        out = df.copy()
        for column in df.columns:
            cells = np.flatnonzero(fill[column].to_numpy())
            if cells.size:
                values = generated[column].to_numpy()[draw * n_rows + generated_row[cells]]
                filled = out[column].copy()
                filled.iloc[cells] = values
                out[column] = filled
        copies.append(out)
    frame = pd.concat(copies) if n_draws > 1 else copies[0]
    return _stack_draws(frame, np.repeat(np.arange(n_draws), n_rows), n_draws)
