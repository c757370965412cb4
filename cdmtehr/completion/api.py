"""The sampling methods of `CDMTSynthesizer` as functions of a fitted synthesizer: `sample`
(with or without given columns), `forecast` and `impute`.

The estimator's methods of the same names check that it is fitted and call these (their
docstrings are the reference). What is known is encoded (`frames`), the rest is drawn with
replacement conditioning (`sampling.inpainting`), and the known cells of the caller's frame
are put back into the result. `sample_chunks` is the lazy stream of generated patients that
`sample` and `CDMTSynthesizer.sample_to_parquet` share.
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
from ..sampling import generate_stays
from ..sampling.inpainting import REPLACEMENT_SAMPLER, REPLACEMENT_STEPS
from ..sampling.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS
from ..sampling.tails import calibrate_tails
from .frames import given_frame, given_patients, imputation_patients, prefix_patients

DRAW_COLUMN = "draw"


def generated_cohorts(synth, classes, steps, sampler, guidance_scale, generator, known=None):
    """The patients of `classes` drawn from the fitted `synth`, as lazy `EncodedCohort` chunks.

    Parameters
    ----------
    synth : CDMTSynthesizer
        A fitted synthesizer: its model, schedule, first stage and preprocessor are used, its
        `sample_batch_size` patients at a time, on its device.
    classes : ndarray of shape (n,), int
        Condition class of each patient.
    steps, sampler, guidance_scale
        As in `CDMTSynthesizer.sample`.
    generator : torch.Generator
        Source of all the noise.
    known : callable, optional
        Known states of the patients (`KnownPatients.states`), held by replacement.

    Returns
    -------
    iterator of EncodedCohort
    """
    chunks = generate_stays(
        synth.model_, synth.schedule_, getattr(synth, "profile_model_", None), classes,
        steps=steps, sampler=sampler, guidance_scale=guidance_scale, generator=generator,
        known=known, batch_size=synth.sample_batch_size, device=synth.device_,
        progress=synth.verbose,
    )
    pre = synth.preprocessor_
    levels = dict(categorical_levels=pre.categorical_levels_, n_classes=len(synth.classes_),
                  static_categorical_levels=pre.static_categorical_levels_)
    # Drawn patients' tails mapped onto the data's (cdmtehr.sampling.tails); known ones kept.
    calibration = getattr(synth, "tail_calibration_", None) if known is None else None
    return (EncodedCohort(**calibrate_tails(calibration, arrays), **levels) for arrays in chunks)


def sample_chunks(synth, n, *, condition, steps, sampler, guidance_scale, random_state,
                  owner="CDMTSynthesizer.sample"):
    """Check the arguments of a sampling method, draw the classes of `n` patients; return
    their lazy `EncodedCohort` chunks (`generated_cohorts`). `owner` names the method in
    error messages."""
    arguments = {"n": n, "steps": steps, "sampler": sampler,
                 "guidance_scale": guidance_scale, "random_state": random_state}
    check_parameters(arguments, SAMPLE_ARGUMENTS, owner)
    rng = as_random_state(random_state)
    classes = synth.preprocessor_.condition_indices(
        n, condition, prior=synth.class_prior_, random_state=rng, owner=owner
    )
    return generated_cohorts(synth, classes, steps, sampler, guidance_scale,
                             torch_generator(rng))


def _check(method, arguments) -> None:
    constraints = {**SAMPLE_ARGUMENTS, **COMPLETION_ARGUMENTS}
    check_parameters(arguments, constraints, f"CDMTSynthesizer.{method}")


def _draw(synth, known, classes, n_draws, steps, sampler, guidance_scale, rng):
    """`n_draws` completions of the `known` patients (draw after draw) as one EncodedCohort."""
    known = known.repeat(n_draws)
    classes = np.tile(classes, n_draws)
    chunks = generated_cohorts(synth, classes, steps, sampler, guidance_scale,
                               torch_generator(rng),
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


# -- sample ----------------------------------------------------------------------------------------
def sample(synth, n, *, condition, steps, sampler, guidance_scale, random_state, given):
    """`CDMTSynthesizer.sample` of a fitted `synth` (see its docstring)."""
    # None: the drawing default, or completion's when known columns are given.
    drawn, completed = (DEFAULT_STEPS, DEFAULT_SAMPLER), (REPLACEMENT_STEPS, REPLACEMENT_SAMPLER)
    default_steps, default_sampler = drawn if given is None else completed
    steps = default_steps if steps is None else steps
    sampler = default_sampler if sampler is None else sampler
    if given is not None:
        return _sample_given(synth, n, given, condition, steps, sampler, guidance_scale,
                             random_state)
    chunks = sample_chunks(synth, n, condition=condition, steps=steps, sampler=sampler,
                           guidance_scale=guidance_scale, random_state=random_state)
    return synth.preprocessor_.inverse_transform(EncodedCohort.concat(list(chunks)))


def _sample_given(synth, n, given, condition, steps, sampler, guidance_scale, random_state):
    owner = "CDMTSynthesizer.sample"
    _check("sample", {"n": n, "steps": steps, "sampler": sampler,
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
def forecast(synth, df_prefix, *, horizon, n_draws, condition, steps, sampler,
             guidance_scale, random_state):
    """`CDMTSynthesizer.forecast` of a fitted `synth` (see its docstring)."""
    _check("forecast", {"horizon": horizon, "n_draws": n_draws, "steps": steps,
                        "sampler": sampler, "guidance_scale": guidance_scale,
                        "random_state": random_state})
    pre, owner = synth.preprocessor_, "CDMTSynthesizer.forecast"
    known, classes, rows, present = prefix_patients(
        df_prefix, pre, synth.layout_, horizon=horizon, condition=condition, owner=owner
    )
    rng = as_random_state(random_state)
    cohort = _draw(synth, known, classes, n_draws, steps, sampler, guidance_scale, rng)
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
def impute(synth, df, *, mask, n_draws, nan, condition, steps, sampler, guidance_scale,
           random_state):
    """`CDMTSynthesizer.impute` of a fitted `synth` (see its docstring)."""
    _check("impute", {"n_draws": n_draws, "nan": nan, "steps": steps, "sampler": sampler,
                      "guidance_scale": guidance_scale, "random_state": random_state})
    pre, owner = synth.preprocessor_, "CDMTSynthesizer.impute"
    known, classes, rows, fill = imputation_patients(
        df, mask, pre, synth.layout_, nan=nan, condition=condition, owner=owner
    )
    rng = as_random_state(random_state)
    cohort = _draw(synth, known, classes, n_draws, steps, sampler, guidance_scale, rng)
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
