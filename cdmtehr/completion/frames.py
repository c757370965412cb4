"""DataFrames of partly known patients -> `KnownPatients` (what is known, encoded).

Three kinds of knowledge, one per public method:

* `given_patients`: per-patient columns (statics, the condition) of new patients;
* `prefix_patients`: the first time steps of each stay (values and what was measured);
* `imputation_patients`: whole stays with cells marked "measured, value unknown".

Columns of the fitted model that a frame lacks are unknown (drawn, not returned); columns the
model does not know are an error. Known cells are copied from the caller's frame into the
result, so they come back exactly.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from .._validation import close_names
from ..exceptions import DataWarning, InvalidDataError, InvalidParameterError
from ..preprocessing import EncodedCohort
from ..preprocessing.sequences import arrange_rows, time_to_numbers
from ..roles import check_frame_type
from .known import known_patients


# -- checks --------------------------------------------------------------------------------------
def _present_columns(df, pre, owner: str, argument: str) -> list:
    """The fitted columns in `df`; raise for unknown columns and a missing id or time column."""
    check_frame_type(df)
    roles = pre.roles_
    unknown = [c for c in df.columns if c not in pre.columns_]
    if unknown:
        hints = [f"'{c}' (did you mean {close[0]!r}?)" if close else f"'{c}'"
                 for c in unknown for close in [close_names(c, list(pre.columns_))]]
        raise InvalidParameterError(
            f"The '{argument}' frame of {owner} has columns the model was not fitted on: "
            f"{', '.join(hints)}; drop or rename them (the model's columns: "
            f"{list(pre.columns_)})."
        )
    needed = [c for c in (roles.id_col, roles.time_col) if c not in df.columns]
    if needed:
        raise InvalidParameterError(
            f"The '{argument}' frame of {owner} lacks the column(s) {needed} (id_col and "
            "time_col are needed to lay the rows out)."
        )
    if len(df) == 0:
        raise InvalidParameterError(f"The '{argument}' frame of {owner} has no rows.")
    return [c for c in pre.columns_ if c in df.columns]


def _placeholder(pre, column):
    """A value of `column` that encodes without error; it stands in a column the frame lacks."""
    roles = pre.roles_
    if column == roles.condition_col:
        return pre.classes_[0]
    encoders = dict(zip(pre.categorical_names_, pre.categorical_encoders_, strict=True))
    encoders.update(zip(pre.static_categorical_names_, pre.static_categorical_encoders_,
                        strict=True))
    return encoders[column].levels_[0] if column in encoders else np.nan


def _encode(df, pre, absent, owner):
    """Encode `df` (the fitted columns it has) on the fitted grid; return it and its RowLayout."""
    work = df.copy()
    for column in absent:
        work[column] = _placeholder(pre, column)
    cohort = pre.transform(work[list(pre.columns_)], partial=True)
    roles = pre.roles_
    times, _ = time_to_numbers(df[roles.time_col])
    layout = arrange_rows(df[roles.id_col], times)
    grid = pre.time_grid_
    if grid.regular_:
        starts = grid.first_numbers(df[roles.time_col], layout) if grid.starts_vary_ else None
        expected = grid.times_from_positions(
            layout.position, None if starts is None else starts[layout.patient]
        ).to_numpy()
        actual = df[roles.time_col].to_numpy()[layout.order]
        wrong = np.flatnonzero(expected != actual)
        if wrong.size:
            patient = layout.ids[layout.patient[wrong[0]]]
            raise InvalidDataError([
                f"Column '{roles.time_col}' (time_col): the rows of patient {patient!r} are not "
                f"consecutive steps of the fitted grid from its start (time "
                f"{actual[wrong[0]]!r} where {expected[wrong[0]]!r} was due); {owner} needs "
                "each stay's rows without gaps, as in fit."
            ])
    return cohort, layout


def _warn_outside_support(frame, pre, columns, argument) -> None:
    """One DataWarning naming the numeric columns with values outside the range seen in fit."""
    encoders = dict(zip(pre.roles_.temporal_num_cols, pre.numeric_encoders_, strict=False))
    encoders.update(zip(pre.static_numeric_names_, pre.static_numeric_encoders_, strict=True))
    found = []
    for column in columns:
        if column not in encoders or encoders[column].n_observed_ == 0:
            continue
        encoder = encoders[column]
        values = pd.to_numeric(frame[column], errors="coerce")
        values = values.to_numpy(dtype=float, na_value=np.nan)
        outside = (values < encoder.min_) | (values > encoder.max_)
        if outside.any():
            found.append(f"'{column}' ({int(outside.sum())} values, e.g. "
                         f"{values[outside][0]:g}; fit range [{encoder.min_:g}, "
                         f"{encoder.max_:g}])")
    if found:
        warnings.warn(
            f"Values of '{argument}' outside the range seen in fit, in {len(found)} column(s): "
            + ", ".join(found) + ". They come back as given, but the model reads them as "
            "the nearest value it saw: what it draws around them is an extrapolation.",
            DataWarning,
            stacklevel=4,
        )


def _classes(pre, n, known, condition, prior, rng, owner, argument, draw_missing):
    """Class index of each patient: from the frame's condition column, `condition`, or else.

    Without either, new patients (``draw_missing``) get classes drawn from `prior`; patients
    being completed get the null class, i.e. the unconditional model.
    """
    if len(pre.classes_) == 0:
        return pre.condition_indices(n, condition, owner=owner)
    if known is None:
        if condition is None and not draw_missing:
            return np.full(n, len(pre.classes_), dtype=np.int64)
        return pre.condition_indices(n, condition, prior=prior, random_state=rng, owner=owner)
    if condition is not None:
        asked = pre.condition_indices(n, condition, owner=owner)
        differ = np.flatnonzero(asked != known)
        if differ.size:
            first = differ[0]
            raise InvalidParameterError(
                f"The 'condition' parameter of {owner} contradicts column "
                f"'{pre.roles_.condition_col}' of '{argument}' for {differ.size} patient(s) "
                f"(patient {first}: {pre.classes_[asked[first]]!r} against "
                f"{pre.classes_[known[first]]!r}); give the condition in one place."
            )
    return known


# -- given per-patient columns -------------------------------------------------------------------
def given_frame(n, given, pre, owner: str) -> pd.DataFrame:
    """`given` (a frame with one row per patient, or a dict of constants) as a frame of n rows."""
    roles = pre.roles_
    if isinstance(given, dict):
        try:
            given = pd.DataFrame(given, index=pd.RangeIndex(n))
        except ValueError as error:
            raise InvalidParameterError(
                f"The 'given' parameter of {owner} is a dict whose values must be constants "
                f"or sequences of n={n} values: {error}"
            ) from None
    elif not isinstance(given, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'given' parameter of {owner} must be a DataFrame (one row per patient) or a "
            f"dict of constants; got {type(given).__name__}."
        )
    if len(given) != n:
        raise InvalidParameterError(
            f"The 'given' parameter of {owner} has {len(given)} rows; it needs one per patient "
            f"(n={n})."
        )
    allowed = [c for c in pre.static_numeric_names_ if c in pre.columns_]  # not the start
    allowed += pre.static_categorical_names_
    if roles.condition_col is not None:
        allowed.append(roles.condition_col)
    wrong = [c for c in given.columns if c not in allowed]
    if wrong:
        temporal = [c for c in wrong if c in pre.columns_]
        hint = (f" {temporal} vary along the stay: use forecast or impute for known values of "
                "a stay." if temporal else "")
        raise InvalidParameterError(
            f"The 'given' parameter of {owner} names columns that are not per-patient columns "
            f"of the model: {wrong}; it takes {allowed}.{hint}"
        )
    return given.reset_index(drop=True)


def given_patients(given, pre, layout, *, condition, prior, rng, owner):
    """`KnownPatients` of new patients whose `given` columns are known; and their classes."""
    n = len(given)
    steps = layout.max_length
    problems = []
    static_numeric = np.zeros((n, len(pre.static_numeric_names_)))
    static_unknown = np.ones(static_numeric.shape, dtype=bool)
    for j, (name, encoder) in enumerate(
        zip(pre.static_numeric_names_, pre.static_numeric_encoders_, strict=True)
    ):
        if name in given:
            scores = _encode_values(encoder, given[name], problems)
            static_unknown[:, j] = np.isnan(scores)
            static_numeric[:, j] = np.where(static_unknown[:, j], 0.0, scores)
    static_codes = np.zeros((n, len(pre.static_categorical_names_)), dtype=np.int64)
    categorical_unknown = np.ones(static_codes.shape, dtype=bool)
    for j, (name, encoder) in enumerate(
        zip(pre.static_categorical_names_, pre.static_categorical_encoders_, strict=True)
    ):
        if name in given:
            values = given[name]
            known = values.notna().to_numpy()
            codes = _encode_values(encoder, values[known], problems)
            static_codes[known, j] = codes
            categorical_unknown[:, j] = ~known
    condition_col = pre.roles_.condition_col
    known_classes = None
    if condition_col is not None and condition_col in given:
        if given[condition_col].isna().any():
            problems.append(f"Column '{condition_col}' (condition_col) of 'given' has missing "
                            "values; give a class for every patient or leave the column out.")
        else:
            known_classes = pre.condition_indices(n, given[condition_col].tolist(), owner=owner)
    if problems:
        raise InvalidDataError(problems)
    _warn_outside_support(given, pre, given.columns, "given")
    classes = _classes(pre, n, known_classes, condition, prior, rng, owner, "given", True)
    cohort = _empty_cohort(pre, n, steps, static_numeric, static_codes, classes)
    every = np.ones((n, steps), dtype=bool)
    known = known_patients(
        cohort, layout, steps_unknown=every, validity_unknown=every,
        static_unknown=static_unknown, static_categorical_unknown=categorical_unknown,
    )
    return known, classes


def _encode_values(encoder, values, problems):
    """Encode one column, collecting its error (an unseen level names the column)."""
    try:
        return encoder.transform(values)
    except ValueError as error:
        problems.append(str(error))
        return np.zeros(len(values))


def _empty_cohort(pre, n, steps, static_numeric, static_codes, classes):
    """New patients of which only the statics are filled in (the rest is drawn)."""
    n_values = len(pre.numeric_encoders_)
    return EncodedCohort(
        numeric=np.zeros((n, steps, n_values), np.float32),
        observed=np.zeros((n, steps, n_values), bool),
        categorical=np.zeros((n, steps, len(pre.categorical_levels_)), np.int64),
        static_numeric=static_numeric.astype(np.float32),
        static_observed=np.ones(static_numeric.shape, bool),
        static_categorical=static_codes,
        condition=np.minimum(classes, max(len(pre.classes_) - 1, 0)).astype(np.int64),
        lengths=np.full(n, steps, dtype=np.int64),
        categorical_levels=pre.categorical_levels_,
        static_categorical_levels=pre.static_categorical_levels_,
        n_classes=len(pre.classes_),
    )


# -- a stay's first steps ------------------------------------------------------------------------
def prefix_patients(df, pre, layout, *, horizon, condition, owner):
    """`KnownPatients` whose first steps are `df`'s rows; classes, rows and fitted columns."""
    present = _present_columns(df, pre, owner, "df_prefix")
    counts = df.groupby(df[pre.roles_.id_col], sort=False, dropna=False).size()
    limit = layout.max_length - (0 if horizon is None else horizon)
    if counts.max() > limit:
        longest = counts.idxmax()
        extra = "" if horizon is None else f" minus the horizon of {horizon}"
        raise InvalidParameterError(
            f"The 'df_prefix' frame of {owner}: patient {longest!r} has {counts.max()} rows, "
            f"more than the {limit} the fitted grid leaves (it has {layout.max_length} time "
            f"steps{extra}); shorten the prefix"
            + ("." if horizon is None else " or the horizon.")
        )
    absent = [c for c in pre.columns_ if c not in present]
    cohort, rows = _encode(df, pre, absent, owner)
    _warn_outside_support(df, pre, present, "df_prefix")
    steps = np.arange(layout.max_length)[None, :]
    after = steps >= rows.lengths[:, None]
    validity_unknown = after
    if horizon is not None:  # the stay goes on for `horizon` steps; what follows is cut off
        cohort = replace(cohort, lengths=rows.lengths + horizon)
        validity_unknown = steps >= (rows.lengths + horizon)[:, None]
    known = _with_absent_columns(
        cohort, layout, pre, absent, steps_unknown=after, validity_unknown=validity_unknown,
    )
    classes = _frame_classes(pre, cohort, absent, condition, owner, "df_prefix")
    return known, classes, rows, present


def _frame_classes(pre, cohort, absent, condition, owner, argument):
    """The classes of a frame's patients: its condition column's, else `_classes`'s choice."""
    known = None if pre.roles_.condition_col in absent else cohort.condition
    return _classes(pre, cohort.n_patients, known, condition, None, None, owner, argument,
                    False)


def _with_absent_columns(cohort, layout, pre, absent, **unknowns):
    """`known_patients` where the columns the frame lacks are unknown too."""
    n, steps, n_values = cohort.numeric.shape
    unknown = unknowns.pop("unknown", np.zeros((n, steps, n_values), dtype=bool)).copy()
    names = list(pre.roles_.temporal_num_cols)
    for k, name in enumerate(names):
        if name in absent:
            unknown[:, :, k] = True
    categorical = unknowns.pop("categorical_unknown", np.zeros(cohort.categorical.shape, bool))
    categorical = categorical.copy()
    for k, name in enumerate(pre.categorical_names_):
        categorical[:, :, k] |= name in absent
    static_unknown = unknowns.pop("static_unknown", np.zeros(cohort.static_numeric.shape, bool))
    static_unknown = static_unknown.copy()
    for j, name in enumerate(pre.static_numeric_names_):
        static_unknown[:, j] |= name in absent
    static_categorical = unknowns.pop("static_categorical_unknown",
                                      np.zeros(cohort.static_categorical.shape, bool)).copy()
    for j, name in enumerate(pre.static_categorical_names_):
        static_categorical[:, j] |= name in absent
    return known_patients(
        cohort, layout, unknown=unknown, categorical_unknown=categorical,
        static_unknown=static_unknown, static_categorical_unknown=static_categorical,
        **unknowns,
    )


# -- stays with cells to impute ------------------------------------------------------------------
def impute_mask(df, mask, present, pre, owner) -> pd.DataFrame:
    """`mask` as a boolean frame with `df`'s index and columns (False where not given)."""
    roles = pre.roles_
    if mask is None:
        return pd.DataFrame(False, index=df.index, columns=df.columns)
    if isinstance(mask, np.ndarray):
        if mask.shape != df.shape:
            raise InvalidParameterError(
                f"The 'mask' parameter of {owner} is an array of shape {mask.shape}; it must "
                f"have the frame's shape {df.shape} (or be a DataFrame with its index)."
            )
        mask = pd.DataFrame(mask, index=df.index, columns=df.columns)
    if not isinstance(mask, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'mask' parameter of {owner} must be a boolean DataFrame aligned with the "
            f"frame (True: measured, value unknown) or None; got {type(mask).__name__}."
        )
    wrong = [c for c in mask.columns if c not in present]
    if wrong:
        raise InvalidParameterError(
            f"The 'mask' parameter of {owner} has columns that are not modelled columns of "
            f"the frame: {wrong}."
        )
    if not mask.index.equals(df.index):
        raise InvalidParameterError(
            f"The 'mask' parameter of {owner} must have the frame's index (the same labels "
            "in the same order), as df.isna() or df.sample(frac=0.1).index give."
        )
    not_bool = [c for c in mask.columns if not pd.api.types.is_bool_dtype(mask[c].dtype)
                or mask[c].isna().any()]
    if not_bool:
        raise InvalidParameterError(
            f"The 'mask' parameter of {owner} must hold True/False only; columns {not_bool} "
            "do not."
        )
    fixed = [c for c in (roles.id_col, roles.time_col, roles.condition_col)
             if c in mask.columns and c is not None and mask[c].any()]
    if fixed:
        raise InvalidParameterError(
            f"The 'mask' parameter of {owner} marks cells of {fixed}: ids, times and the "
            "condition are never drawn (leave the condition column out to complete stays "
            "with the unconditional model)."
        )
    return mask.reindex(columns=df.columns, fill_value=False).astype(bool)


def imputation_patients(df, mask, pre, layout, *, nan, condition, owner):
    """`KnownPatients` of whole stays with the cells of `mask` (and NaN cells by `nan`) drawn.

    Returns the patients, their classes, the rows and the ``fill`` frame: True at the cells of
    `df` whose drawn value goes into the result.
    """
    present = _present_columns(df, pre, owner, "df")
    mask = impute_mask(df, mask, present, pre, owner)
    absent = [c for c in pre.columns_ if c not in present]
    roles = pre.roles_
    patients = df[roles.id_col].to_numpy()
    for column in [*pre.static_numeric_names_, *pre.static_categorical_names_]:
        if column in present and mask[column].any():  # drawn once, for the whole stay
            mask[column] = mask[column].groupby(patients).transform("any").to_numpy()
    work = df.copy()
    numeric = [c for c in present if c in roles.temporal_num_cols
               or c in pre.static_numeric_names_]
    for column in numeric:
        work[column] = work[column].mask(mask[column].to_numpy())
    categorical = [c for c in present if c in pre.categorical_names_
                   or c in pre.static_categorical_names_]
    for column in categorical:
        rows = mask[column].to_numpy()
        if rows.any():
            column_values = work[column].copy()
            column_values[rows] = _placeholder(pre, column)
            work[column] = column_values
    cohort, rows = _encode(work, pre, absent, owner)
    _warn_outside_support(work, pre, numeric, "df")
    n, steps, n_values = cohort.numeric.shape
    valid = cohort.length_mask()
    hidden = _scatter_cells(mask, roles.temporal_num_cols, rows, (n, steps, n_values))
    missing = valid[:, :, None] & ~cohort.observed & ~hidden
    missing[:, :, len(roles.temporal_num_cols):] = False  # the time gap channel is known
    unknown = np.zeros_like(hidden)
    if nan == "measured":
        hidden |= missing
    elif nan == "unknown":
        unknown = missing
    categorical_unknown = _scatter_cells(mask, pre.categorical_names_, rows,
                                         cohort.categorical.shape)
    static_hidden = _patient_cells(mask, pre.static_numeric_names_, rows, n)
    static_missing = ~cohort.static_observed & ~static_hidden
    static_unknown = np.zeros_like(static_hidden)
    if nan == "measured":
        static_hidden |= static_missing
    elif nan == "unknown":
        static_unknown = static_missing
    known = _with_absent_columns(
        cohort, layout, pre, absent, hidden=hidden, unknown=unknown,
        categorical_unknown=categorical_unknown, static_hidden=static_hidden,
        static_unknown=static_unknown,
        static_categorical_unknown=_patient_cells(mask, pre.static_categorical_names_, rows, n),
    )
    classes = _frame_classes(pre, cohort, absent, condition, owner, "df")
    fill = mask.copy()
    if nan != "unmeasured":
        fill[numeric] |= df[numeric].isna().to_numpy()
    return known, classes, rows, fill


def _scatter_cells(mask, names, rows, shape) -> np.ndarray:
    """(N, T, len) bool: the cells of `mask` in columns `names` on the patients' grid."""
    out = np.zeros(shape, dtype=bool)
    for k, name in enumerate(names):
        if name in mask.columns:
            out[rows.patient, rows.position, k] = mask[name].to_numpy()[rows.order]
    return out


def _patient_cells(mask, names, rows, n) -> np.ndarray:
    """(N, len) bool: patients with a cell of `mask` in the per-patient columns `names`."""
    out = np.zeros((n, len(names)), dtype=bool)
    for j, name in enumerate(names):
        if name in mask.columns:
            np.logical_or.at(out[:, j], rows.patient, mask[name].to_numpy()[rows.order])
    return out

