"""Checks of a long frame against its column roles, collecting every problem at once."""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from .exceptions import InvalidDataError
from .roles import ColumnRoles, check_frame_type, is_numeric_kind

_N_EXAMPLES = 3


def _examples(values, n=_N_EXAMPLES) -> str:
    """Format a few distinct example values, e.g. ``['n/a', '?']`` (unhashable ones too)."""
    shown, seen = [], set()
    for value in values:
        text = repr(value)
        if text not in seen:
            seen.add(text)
            shown.append(text)
        if len(shown) == n:
            break
    return "[" + ", ".join(shown) + "]"


def _patients(ids, n=_N_EXAMPLES) -> str:
    shown = list(pd.unique(pd.Series(list(ids), dtype=object)))[:n]
    return ", ".join(str(v) for v in shown)


def _as_roles(roles):
    if isinstance(roles, ColumnRoles):
        return roles
    kwargs = dict(roles)
    for name in ("num_cols", "cat_cols", "static_cols"):
        value = kwargs.get(name)
        if value is None:
            kwargs[name] = ()
        elif isinstance(value, str):
            kwargs[name] = (value,)
        else:
            kwargs[name] = tuple(value)
    return ColumnRoles(**kwargs)


def check_long_frame(df, roles, *, max_levels=1000, partial=False) -> None:
    """Check that a long frame fits its column roles; raise one error listing every problem.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per (patient, time). Never modified.
    roles : ColumnRoles or dict
        Column roles (a dict with the keys of :class:`ColumnRoles` is accepted).
    max_levels : int or None, default=1000
        Largest number of levels accepted in a categorical column (None: no limit).
    partial : bool, default=False
        The frame holds only part of the patients' data (a stay's first hours, the patients
        to complete): a numeric column may then be missing throughout.

    Raises
    ------
    InvalidDataTypeError
        If `df` is not a pandas DataFrame, or has MultiIndex columns.
    InvalidDataError
        Listing every problem found, each naming its column (and example patients or values):
        empty frame; columns that are missing, duplicated or given two roles (a static column
        may also be in `num_cols` or `cat_cols`, which gives its kind); non-numeric,
        infinite or never-observed values in numeric columns; missing ids or times; times that
        are neither numbers nor datetimes, infinite, or too far apart to subtract; duplicate
        (id, time) rows; static or condition columns that vary within a patient; missing
        classes; unhashable ids or categories (lists, dicts); categorical columns with more
        than `max_levels` levels, or with a different level for nearly every value (at least
        50 levels, for at least 90% of the values or patients: an identifier or free text).
    """
    check_frame_type(df)
    roles = _as_roles(roles)
    if len(df) == 0:
        raise InvalidDataError(["The data has no rows; at least one patient is needed."])

    problems = _role_problems(df, roles)
    present = _usable_columns(df, roles)
    # Columns whose values are compared or grouped must be hashable (no lists or dicts).
    for col, role in _hashed_columns(df, roles, present):
        found = _unhashable_problems(df[col], col, role)
        problems += found
        if found:
            present.discard(col)
    id_col, time_col = roles.id_col, roles.time_col
    ids = df[id_col] if id_col in present else None
    if ids is not None:
        problems += _id_problems(ids, id_col)
        if ids.dtype == np.float16:  # pandas cannot group by them, as the checks below do
            ids = None
    if time_col in present:
        problems += _time_problems(df[time_col], time_col, ids)
    if ids is not None and time_col in present:
        problems += _duplicate_row_problems(ids, df[time_col], id_col, time_col)

    kinds = roles.with_static_kinds(df)
    numeric = [(c, "num_cols") for c in roles.temporal_num_cols]
    numeric += [(c, "static_cols") for c in kinds.static_num_cols]
    for col, role in numeric:
        if col in present:
            problems += _numeric_problems(df[col], col, role, ids, partial)

    categorical = [(c, "cat_cols") for c in roles.temporal_cat_cols]
    categorical += [(c, "static_cols") for c in kinds.static_cat_cols]
    if roles.condition_col is not None:
        categorical.append((roles.condition_col, "condition_col"))
    for col, role in categorical:
        if col in present and max_levels is not None:
            problems += _level_problems(df[col], col, role, ids, max_levels)

    if ids is not None and not ids.isna().any():
        per_patient = [(c, "static_cols") for c in roles.static_cols if c in present]
        if roles.condition_col is not None and roles.condition_col in present:
            per_patient.append((roles.condition_col, "condition_col"))
            problems += _condition_missing_problems(df[roles.condition_col], roles, ids)
        problems += _constancy_problems(df, ids, per_patient)

    if problems:
        raise InvalidDataError(problems)


def _hashed_columns(df, roles, present) -> list:
    """(column, role) of the present object columns whose values are used as keys or levels."""
    named = [(roles.id_col, "id_col")]
    named += [(c, "cat_cols") for c in roles.temporal_cat_cols]
    named += [(c, "static_cols") for c in roles.static_cols]
    if roles.condition_col is not None:
        named.append((roles.condition_col, "condition_col"))
    return [
        (col, role)
        for col, role in named
        if col in present and pd.api.types.is_object_dtype(df[col].dtype)
    ]


def _unhashable_problems(values, col, role) -> list:
    try:
        pd.unique(values)
        return []
    except TypeError:
        pass
    bad = []
    for value in values:
        try:
            hash(value)
        except TypeError:
            bad.append(value)
    kinds = sorted({type(v).__name__ for v in bad})
    return [
        f"Column '{col}' ({role}) has {len(bad)} values of unhashable type "
        f"{', '.join(kinds)}, e.g. {_examples(bad)}; ids and categories must be scalars such "
        "as strings or numbers. Convert them (e.g. with .astype(str)) or drop the column."
    ]


# A categorical column with at least this many levels, nearly one per value, looks like an
# identifier or free text: each level is seen about once, so the model cannot learn it and
# would only copy real values into synthetic patients.
_ID_LIKE_LEVELS = 50
_ID_LIKE_SHARE = 0.9


def _level_problems(values, col, role, ids, max_levels) -> list:
    """Too many levels for a categorical column, or one level per value (an identifier)."""
    n_levels = values.nunique(dropna=False)
    if n_levels > max_levels:
        return [
            f"Column '{col}' ({role}) has {n_levels} levels, more than "
            f"max_levels={max_levels}. Treat it as numeric, group rare levels, or raise "
            "max_levels."
        ]
    per_patient = role != "cat_cols" and ids is not None and not ids.isna().any()
    n_values = ids.nunique() if per_patient else int(values.notna().sum())
    unit = "patients" if per_patient else "values"
    if n_levels >= _ID_LIKE_LEVELS and n_levels >= _ID_LIKE_SHARE * n_values:
        return [
            f"Column '{col}' ({role}) has {n_levels} levels for {n_values} {unit}: nearly "
            "every value is different, like an identifier or free text. The model cannot "
            "learn such a column and would copy real values into synthetic patients; drop "
            "it, group its levels, or treat it as numeric."
        ]
    return []


def close_names(col, names, n=3) -> list:
    """Names of `names` spelt like `col` (case aside), best first; none when nothing is close.

    The cutoff is stricter than difflib's 0.6, at which 'HeartRate' would suggest 'Lactate':
    a suggestion must read as a misspelling, not as another variable.
    """
    by_lower = {}
    for name in names:
        by_lower.setdefault(str(name).lower(), name)
    close = difflib.get_close_matches(str(col).lower(), list(by_lower), n=n, cutoff=0.75)
    return [by_lower[c] for c in close]


# A static column may also be named in num_cols or cat_cols: "static, of that kind".
_KIND_OF_STATIC = ({"static_cols", "num_cols"}, {"static_cols", "cat_cols"})


def _role_problems(df, roles) -> list:
    """Columns missing from the data, named twice, or present twice in the data."""
    problems = []
    columns = list(df.columns)
    counts = pd.Series(columns, dtype=object).value_counts()
    for col, count in counts[counts > 1].items():
        problems.append(
            f"Column '{col}' appears {count} times in the data; column names must be unique."
        )
    names = [str(c) for c in columns]
    for col, role_list in roles.role_of().items():
        if col not in df.columns:
            hint = close_names(col, names)
            suggestion = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else "."
            if col in df.index.names:
                suggestion = "; it is a level of the index: call df.reset_index() first."
            problems.append(f"Column '{col}' ({role_list[0]}) is not in the data{suggestion}")
        if len(set(role_list)) > 1 and set(role_list) not in _KIND_OF_STATIC:
            problems.append(
                f"Column '{col}' is given several roles ({', '.join(role_list)}); each column "
                "can have only one, except that a static column may also be in num_cols or "
                "cat_cols to give its kind."
            )
        else:
            for role in dict.fromkeys(role_list):
                if role_list.count(role) > 1:
                    problems.append(
                        f"Column '{col}' is listed {role_list.count(role)} times in {role}."
                    )
    return problems


def _usable_columns(df, roles) -> set:
    counts = pd.Series(list(df.columns), dtype=object).value_counts()
    unique = set(counts[counts == 1].index)
    return {c for c in roles.columns if c in unique}


def _id_problems(ids, id_col) -> list:
    if ids.dtype == np.float16:
        return [
            f"Column '{id_col}' (id_col) has dtype float16, which pandas cannot index by and "
            "which counts whole numbers exactly only up to 2048; cast it with "
            "astype('int64') (or 'float64')."
        ]
    missing = ids.isna()
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())[:_N_EXAMPLES]
        return [
            f"Column '{id_col}' (id_col) has {int(missing.sum())} missing patient ids "
            f"(e.g. at rows {', '.join(str(r) for r in rows)}); every row needs a patient: "
            "fill them in or drop those rows."
        ]
    return []


def _time_problems(times, time_col, ids) -> list:
    dtype = times.dtype
    ok_dtype = (
        is_numeric_kind(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    )
    if not ok_dtype:
        kinds = sorted({type(v).__name__ for v in times.dropna().head(1000)})
        return [
            f"Column '{time_col}' (time_col) must hold numbers or datetimes (a sortable "
            f"numeric, datetime64 or timedelta64 dtype); got dtype {dtype} with values of "
            f"type {', '.join(kinds) or 'none'}, e.g. {_examples(times.dropna())}. Convert it "
            "with pd.to_numeric or pd.to_datetime."
        ]
    missing = times.isna()
    if missing.any():
        where = f" in patients {_patients(ids[missing])}" if ids is not None else ""
        return [
            f"Column '{time_col}' (time_col) has {int(missing.sum())} missing times{where}; "
            "every row needs a time: fill them in or drop those rows."
        ]
    if not pd.api.types.is_float_dtype(dtype):
        return _integer_span_problems(times, time_col)
    numbers = times.to_numpy(dtype="float64")
    infinite = np.isinf(numbers)
    if infinite.any():
        where = f" in patients {_patients(ids[infinite])}" if ids is not None else ""
        return [
            f"Column '{time_col}' (time_col) has {int(infinite.sum())} infinite times{where}; "
            "every row needs a finite time: fix them or drop those rows."
        ]
    with np.errstate(over="ignore"):
        span = numbers.max() - numbers.min()
    if not np.isfinite(span):
        return [
            f"Column '{time_col}' (time_col) spans from {numbers.min()!r} to "
            f"{numbers.max()!r}, too wide to take differences in float64; shift or rescale it."
        ]
    return []


def _integer_span_problems(times, time_col) -> list:
    """Integer, datetime and timedelta times are differenced in int64: their span must fit."""
    if pd.api.types.is_datetime64_any_dtype(times.dtype) or pd.api.types.is_timedelta64_dtype(
        times.dtype
    ):
        counts = times.array.asi8
        low, high = int(counts.min()), int(counts.max())
        unit = getattr(times.dtype, "unit", "ns")
        kind = "datetime64" if times.dtype.kind == "M" else "timedelta64"
        hint = f"store it in a coarser unit (e.g. .astype('{kind}[s]'))"
    else:
        low, high, unit = int(times.min()), int(times.max()), None
        hint = "shift it (subtract its minimum) or count in a coarser unit"
    int64 = np.iinfo(np.int64)
    if high - low <= int64.max and int64.min <= low and high <= int64.max:
        return []
    what = f"{high - low} {unit}" if unit else f"{high - low}"
    return [
        f"Column '{time_col}' (time_col) spans from {times.min()!r} to {times.max()!r}, "
        f"{what}: wider than the int64 differences times are counted in; {hint}."
    ]


def _duplicate_row_problems(ids, times, id_col, time_col) -> list:
    if ids.isna().any() or times.isna().any():
        return []
    keys = pd.DataFrame({"id": ids.to_numpy(), "time": times.to_numpy()})
    try:
        duplicated = keys.duplicated(keep="first").to_numpy()
    except TypeError:  # unhashable times (lists, dicts): _time_problems reports the column
        return []
    if not duplicated.any():
        return []
    first = keys[duplicated].iloc[0]
    return [
        f"Columns '{id_col}' and '{time_col}' have {int(duplicated.sum())} duplicate "
        f"(patient, time) rows, e.g. patient {first['id']} at time {first['time']}; each "
        "patient may have one row per time: merge the duplicates or drop them (e.g. "
        f"df.drop_duplicates([{id_col!r}, {time_col!r}]))."
    ]


def _numeric_problems(values, col, role, ids, partial=False) -> list:
    dtype = values.dtype
    where = (lambda mask: f" in patients {_patients(ids[mask])}") if ids is not None else (
        lambda mask: ""
    )
    textual = pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
    if not (textual or is_numeric_kind(dtype) or pd.api.types.is_bool_dtype(dtype)):
        # Categories, datetimes, timedeltas, periods, intervals, complex numbers.
        return [
            f"Column '{col}' ({role}) has dtype {dtype}, which is not numeric; convert it "
            "to real numbers (e.g. astype(float)) or give it the categorical role."
        ]
    if textual:
        numbers = _to_numbers(values)
        text = values.notna().to_numpy() & np.isnan(numbers)
        if text.any():
            text = pd.Series(text, index=values.index)
            return [
                f"Column '{col}' ({role}) has non-numeric values, e.g. "
                f"{_examples(values[text])}{where(text)}. Convert them to numbers or NaN "
                f"(e.g. pd.to_numeric(df[{col!r}], errors='coerce')), or give the column the "
                "categorical role."
            ]
        values = pd.Series(numbers, index=values.index)
    if pd.api.types.is_bool_dtype(values.dtype):
        return []
    as_float = pd.to_numeric(values).astype("float64")
    problems = []
    infinite = np.isinf(as_float.to_numpy(dtype="float64", na_value=np.nan))
    if infinite.any():
        mask = pd.Series(infinite, index=values.index)
        problems.append(
            f"Column '{col}' ({role}) has {int(infinite.sum())} infinite values"
            f"{where(mask)}; use NaN for unmeasured values."
        )
    if as_float.isna().all() and not partial:
        problems.append(
            f"Column '{col}' ({role}) is never observed (all values are missing); drop it."
        )
    return problems


def _to_numbers(values) -> np.ndarray:
    """Real numbers of an object or string column as float64, NaN where a value is not one."""
    numbers = pd.to_numeric(values, errors="coerce")
    if pd.api.types.is_complex_dtype(numbers.dtype):
        return np.where(np.imag(numbers) == 0, np.real(numbers), np.nan)
    try:
        return numbers.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):  # objects that pandas left as they were
        return np.full(len(values), np.nan)


def _condition_missing_problems(condition, roles, ids) -> list:
    missing = condition.isna()
    if not missing.any():
        return []
    return [
        f"Column '{roles.condition_col}' (condition_col) has missing values in patients "
        f"{_patients(ids[missing])}; every patient needs a class: fill in one (e.g. "
        "'unknown') or drop those patients."
    ]


def _constancy_problems(df, ids, columns) -> list:
    """Per-patient columns that take more than one value within a patient."""
    if not columns:
        return []
    names = [c for c, _ in columns]
    frame = pd.DataFrame({i: df[c].to_numpy() for i, c in enumerate(names)})
    frame["__id__"] = ids.to_numpy()
    counts = frame.groupby("__id__", sort=False, observed=True).nunique(dropna=False)
    problems = []
    for i, (col, role) in enumerate(columns):
        varying = counts.index[counts[i].to_numpy() > 1]
        if len(varying) == 0:
            continue
        patient = varying[0]
        values = df[col][(ids == patient).to_numpy()]
        fix = (
            "take it out of static_cols to model it over time, or give it one value per "
            "patient"
            if role == "static_cols"
            else "the condition must be one class per patient"
        )
        problems.append(
            f"Column '{col}' ({role}) is not constant within patients ({len(varying)} "
            f"patients vary), e.g. patient {patient} has {_examples(values, n=5)}; {fix}."
        )
    return problems
