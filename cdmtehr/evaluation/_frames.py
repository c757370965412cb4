"""The frames under evaluation: their column roles, input checks, levels and subsampling."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._validation import close_names
from ..exceptions import DataWarning, InvalidDataError, InvalidDataTypeError
from ..roles import ColumnRoles, is_numeric_kind

# The cross-validated classifiers need a few patients of each kind.
MIN_PATIENTS = 10


def _is_numeric(series):
    """Numbers count as numeric; booleans count as categories."""
    return is_numeric_kind(series.dtype)


def _constant_within_patients(frame, id_col, cols):
    """Columns with a single value (NaN counting as one) per patient, not all missing."""
    if not cols:
        return []
    n_unique = frame.groupby(id_col, sort=False)[list(cols)].nunique(dropna=False).max()
    return [c for c in cols if n_unique[c] <= 1 and frame[c].notna().any()]


def _missing_message(col, role, frame_name, columns):
    message = f"Column '{col}' ({role}) is missing from {frame_name}"
    close = close_names(col, [str(c) for c in columns], n=1)
    return message + (f"; did you mean '{close[0]}'?" if close else ".")


def _infer(real, id_col, time_col, num_cols, cat_cols, static_cols, condition_col):
    """Fill the roles left as None from the dtypes and patient-constancy of `real`."""
    reserved = {id_col, time_col, condition_col}
    named = set(num_cols or ()) | set(cat_cols or ()) | set(static_cols or ())
    free = [c for c in real.columns if c not in reserved and c not in named]
    if num_cols is None:
        num_cols = [c for c in free if _is_numeric(real[c])]
    if cat_cols is None:
        cat_cols = [c for c in free if not _is_numeric(real[c]) and c not in num_cols]
    num_cols = [c for c in num_cols if c not in reserved]
    cat_cols = [c for c in cat_cols if c not in reserved and c not in num_cols]
    if static_cols is None:
        present = [c for c in dict.fromkeys([*num_cols, *cat_cols]) if c in real.columns]
        static_cols = _constant_within_patients(real, id_col, present)
    static_cols = [c for c in dict.fromkeys(static_cols) if c not in reserved]
    return list(num_cols), list(cat_cols), static_cols


def _check_frame(name, frame, roles_by_col, numeric_cols, id_col, min_patients):
    """List the problems of one frame: absent columns, wrong dtypes, too few patients."""
    problems = []
    for col, role in roles_by_col.items():
        if col not in frame.columns:
            problems.append(_missing_message(col, role, name, frame.columns))
            continue
        if col in numeric_cols and not _is_numeric(frame[col]):
            problems.append(
                f"Column '{col}' ({role}) in {name} must hold numbers; got dtype "
                f"{frame[col].dtype}."
            )
    for col in (c for c, r in roles_by_col.items() if r in ("id_col", "time_col")):
        if col in frame.columns and frame[col].isna().any():
            problems.append(
                f"Column '{col}' ({roles_by_col[col]}) in {name} has "
                f"{int(frame[col].isna().sum())} missing values; every row needs one."
            )
    if id_col in frame.columns:
        n_patients = frame[id_col].nunique()
        if n_patients < min_patients:
            problems.append(
                f"Frame {name} has {n_patients} patients in column '{id_col}' (id_col); "
                f"at least {min_patients} are needed."
            )
    return problems


def resolve_roles(
    frames,
    *,
    id_col,
    time_col,
    num_cols=None,
    cat_cols=None,
    static_cols=None,
    condition_col=None,
    min_patients=MIN_PATIENTS,
):
    """Infer missing roles from the first frame and check every frame against them.

    Parameters
    ----------
    frames : dict of str to DataFrame or None
        Frames by name (``"real"`` first); None entries are skipped.
    id_col, time_col, num_cols, cat_cols, static_cols, condition_col
        As in :func:`cdmtehr.evaluation.evaluate`.
    min_patients : int, default=MIN_PATIENTS
        Fewest patients a frame may have.

    Returns
    -------
    ColumnRoles
        Every static column also in `num_cols` or `cat_cols`: its kind as named there, else
        by its dtype in the first frame. A column in both `num_cols` and `cat_cols` is
        numeric.

    Raises
    ------
    InvalidDataTypeError
        If a frame is not a DataFrame.
    InvalidDataError
        Listing every absent column, non-numeric numeric column, missing id or time, and frame
        with too few patients.
    """
    frames = {name: frame for name, frame in frames.items() if frame is not None}
    for name, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            raise InvalidDataTypeError(
                f"'{name}' must be a pandas DataFrame; got {type(frame).__name__}."
            )
    first_name, real = next(iter(frames.items()))
    problems = [
        _missing_message(col, role, first_name, real.columns)
        for col, role in ((id_col, "id_col"), (time_col, "time_col"))
        if col not in real.columns
    ]
    if problems:
        raise InvalidDataError(problems)

    explicit = num_cols is not None and cat_cols is not None
    num_cols, cat_cols, static_cols = _infer(
        real, id_col, time_col, num_cols, cat_cols, static_cols, condition_col
    )
    roles_by_col = {id_col: "id_col", time_col: "time_col"}
    roles_by_col.update({c: "static_cols" for c in static_cols})
    roles_by_col.update({c: "num_cols" for c in num_cols if c not in roles_by_col})
    roles_by_col.update({c: "cat_cols" for c in cat_cols if c not in roles_by_col})
    if condition_col is not None:
        roles_by_col[condition_col] = "condition_col"
    numeric = set(num_cols) | {c for c in static_cols if c in real.columns and _is_numeric(real[c])}
    numeric -= set(cat_cols) & set(static_cols)  # static and named categorical: any dtype
    for name, frame in frames.items():
        problems.extend(_check_frame(name, frame, roles_by_col, numeric, id_col, min_patients))
    if problems:
        raise InvalidDataError(problems)

    if explicit:
        unnamed = [c for c in real.columns if c not in roles_by_col]
        if unnamed:
            warnings.warn(
                f"Columns {unnamed} of {first_name} have no role and are not evaluated.",
                DataWarning,
                stacklevel=3,
            )

    static_num = [
        c
        for c in static_cols
        if c in num_cols or (c not in cat_cols and _is_numeric(real[c]))
    ]
    static_cat = [c for c in static_cols if c not in static_num]
    temporal_num = [c for c in num_cols if c not in static_cols]
    temporal_cat = [c for c in cat_cols if c not in static_cols]
    return ColumnRoles(
        id_col=id_col,
        time_col=time_col,
        num_cols=tuple(temporal_num + static_num),
        cat_cols=tuple(temporal_cat + static_cat),
        static_cols=tuple(static_num + static_cat),
        condition_col=condition_col,
    )


def _levels(frames, col):
    """Union of the non-missing values of `col`, in a stable order."""
    values = []
    for frame in frames:
        series = frame[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            values.extend(series.cat.categories.tolist())
        else:
            values.extend(pd.unique(series.dropna()).tolist())
    unique = list(dict.fromkeys(values))
    try:
        return tuple(sorted(unique))
    except TypeError:  # mixed types: order by text, deterministic all the same
        return tuple(sorted(unique, key=str))


def _value_kinds(series) -> set:
    """'text' and/or 'number': what the non-missing values of a categorical column are."""
    values = series.cat.categories if isinstance(series.dtype, pd.CategoricalDtype) else (
        pd.unique(series.dropna())
    )
    kinds = set()
    for value in values:
        if isinstance(value, (bool, np.bool_)):
            kinds.add("bool")
        elif isinstance(value, (int, float, np.integer, np.floating)):
            kinds.add("number")
        else:
            kinds.add(type(value).__name__)
    return kinds


def _as_text(value):
    """A level by its text: 0, 0.0 and '0' all read '0' (a CSV round trip turns one into another)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def align_category_types(frames: dict, roles) -> dict:
    """Compare the levels of a categorical column by their text where the frames' types differ.

    After a CSV round trip the category ``'0'`` of one frame reads as the integer ``0`` in the
    other, and every level of the column would count as a mismatch. Such a column is turned
    into text in every frame (missing values stay missing), with a `DataWarning`.

    Parameters
    ----------
    frames : dict of str to DataFrame
        The frames under evaluation (not modified).
    roles : ColumnRoles

    Returns
    -------
    dict of str to DataFrame
        The frames, copies where a column changed.
    """
    columns = list(roles.cat_cols)
    if roles.condition_col is not None:
        columns.append(roles.condition_col)
    frames = dict(frames)
    for col in columns:
        holders = [name for name, frame in frames.items() if col in frame.columns]
        kinds = {name: frozenset(_value_kinds(frames[name][col])) for name in holders}
        if len({k for k in kinds.values() if k}) <= 1:
            continue
        for name in holders:
            frame = frames[name].copy()
            series = frame[col].astype(object)
            frame[col] = series.where(series.isna(), series.map(_as_text))
            frames[name] = frame
        described = ", ".join(f"{name}: {'/'.join(sorted(k))}" for name, k in kinds.items())
        warnings.warn(
            f"Categorical column '{col}' holds values of different types in the frames "
            f"({described}); its levels are compared by their text (0, 0.0 and '0' are one "
            "level). Read the frames with the same dtypes to avoid this.",
            DataWarning,
            stacklevel=3,
        )
    return frames


def category_levels(frames, roles):
    """Levels of every categorical column, the condition included.

    Parameters
    ----------
    frames : iterable of DataFrame
        Frames that passed :func:`resolve_roles`.
    roles : ColumnRoles
        Their roles, as :func:`resolve_roles` returns them.

    Returns
    -------
    dict of str to tuple
        For each column of `roles.cat_cols` and the condition, the union of its values over
        the frames that hold it, missing excluded, in sorted order.
    """
    frames = list(frames)
    columns = list(roles.cat_cols)
    if roles.condition_col is not None:
        columns.append(roles.condition_col)
    return {col: _levels([f for f in frames if col in f.columns], col) for col in columns}


def subsample_patients(frame, roles, max_patients, rng):
    """Keep the role columns of at most `max_patients` random patients, sorted by id and time.

    Parameters
    ----------
    frame : DataFrame
        A long frame that passed :func:`resolve_roles`.
    roles : ColumnRoles
    max_patients : int or None
        None keeps every patient.
    rng : numpy.random.Generator

    Returns
    -------
    DataFrame
        A new frame (the caller's is never modified) with a fresh RangeIndex.
    """
    values = [*roles.temporal_num_cols, *roles.temporal_cat_cols, *roles.static_cols]
    if roles.condition_col is not None:
        values.append(roles.condition_col)
    cols = [roles.id_col, roles.time_col] + [c for c in values if c in frame.columns]
    ids = pd.unique(frame[roles.id_col])
    if max_patients is not None and len(ids) > max_patients:
        ids = ids[np.sort(rng.choice(len(ids), size=max_patients, replace=False))]
        frame = frame.loc[frame[roles.id_col].isin(ids)]
    frame = frame[cols].sort_values([roles.id_col, roles.time_col], kind="stable")
    return frame.reset_index(drop=True)
