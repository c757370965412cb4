"""ColumnRoles: which column of a long frame plays which part, and inference from dtypes.

The one description of the columns shared by the data layer, the input checks, the
evaluation and the command line. It reads column names and dtypes only, never values.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, replace

import pandas as pd

from .exceptions import DataWarning, InvalidDataTypeError, InvalidParameterError

logger = logging.getLogger(__name__)

ROLE_NAMES = ("id_col", "time_col", "num_cols", "cat_cols", "static_cols", "condition_col")


def is_numeric_kind(dtype) -> bool:
    """Tell whether `dtype` is modelled as numbers: real numeric dtypes except booleans."""
    return (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not pd.api.types.is_complex_dtype(dtype)
        and not isinstance(dtype, pd.CategoricalDtype)
    )


def is_categorical_kind(dtype) -> bool:
    """Tell whether `dtype` is modelled as categories: category, object, string, boolean."""
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
    )


def check_frame_type(df) -> None:
    """Raise `InvalidDataTypeError` unless `df` is a DataFrame with flat column names."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidDataTypeError(
            "The data must be a pandas DataFrame in long format (one row per patient and time "
            f"step); got {type(df).__name__}."
        )
    if isinstance(df.columns, pd.MultiIndex):
        raise InvalidDataTypeError(
            f"The data has MultiIndex columns ({df.columns.nlevels} levels, e.g. "
            f"{df.columns[0]!r}); flatten them first, e.g. "
            "df.columns = ['_'.join(map(str, c)) for c in df.columns]."
        )


def as_column_list(value, role):
    """None stays None; one column name becomes a one-element list; iterables become lists."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not pd.api.types.is_list_like(value):
        return [value]
    if isinstance(value, (dict, set, frozenset)):
        raise InvalidParameterError(
            f"The '{role}' argument must be a column name or a list of column names; "
            f"got a {type(value).__name__}, whose order is not defined."
        )
    return list(value)


def as_column_name(value, role):
    """Refuse a list where one column name is expected (tuples are valid names)."""
    if pd.api.types.is_list_like(value) and not isinstance(value, (str, bytes, tuple)):
        raise InvalidParameterError(
            f"The '{role}' argument must be one column name; got {value!r}."
        )
    return value


@dataclass(frozen=True)
class ColumnRoles:
    """The part each column of a long frame plays.

    A column has one role, except that a static column may also be named in `num_cols` or
    `cat_cols` to give its kind: ``static_cols=["icu"], cat_cols=["icu"]`` makes an
    integer-coded ICU type a static category. A static column named in neither takes its
    kind from its dtype (see :meth:`with_static_kinds`).

    Parameters
    ----------
    id_col : str
        Patient identifier.
    time_col : str
        Time of the row (integers, floats or datetimes).
    num_cols : tuple of str
        Numeric columns: over time, or static when also in `static_cols`.
    cat_cols : tuple of str
        Categorical columns: over time, or static when also in `static_cols`.
    static_cols : tuple of str
        Per-patient columns, constant within a patient.
    condition_col : str or None
        Per-patient categorical column usable as a condition.

    See Also
    --------
    ColumnRoles.resolve : Build the roles from `fit`'s arguments, inferring the missing ones.
    """

    id_col: object
    time_col: object
    num_cols: tuple = ()
    cat_cols: tuple = ()
    static_cols: tuple = ()
    condition_col: object = None

    @classmethod
    def resolve(
        cls,
        df,
        id_col,
        time_col,
        *,
        num_cols=None,
        cat_cols=None,
        static_cols=None,
        condition_col=None,
    ) -> ColumnRoles:
        """Complete the roles from the dtypes of `df`.

        `num_cols` or `cat_cols` left as None are inferred from the columns of `df` that have
        no other role: numeric dtypes (except booleans) are numeric; category, object, string
        and boolean dtypes are categorical. `static_cols` left as None are the numeric and
        categorical columns that hold one value (missing counts as one) within every patient,
        named in one `DataWarning` (none when no patient has two rows). Columns that end up in
        no role (including those of other dtypes, such as datetimes) are reported in one
        `DataWarning` and left out of the model. A single column name is accepted where a
        list is expected.

        Parameters
        ----------
        df : pandas.DataFrame
            The long frame; its column names and dtypes are read, and its values only to
            infer `static_cols`.
        id_col, time_col : str
            Patient identifier and time columns.
        num_cols, cat_cols, static_cols : str or list of str, optional
            Numeric, categorical and per-patient columns (``static_cols=[]``: none, nothing
            inferred).
        condition_col : str, optional
            Per-patient condition column.

        Returns
        -------
        ColumnRoles
            The completed roles. Columns missing from `df` are kept as given, so that
            :func:`cdmtehr._validation.check_long_frame` can report them.

        Raises
        ------
        InvalidDataTypeError
            If `df` is not a pandas DataFrame, or has MultiIndex columns.
        InvalidParameterError
            If a role argument has an unusable type (e.g. a set or a dict).
        """
        check_frame_type(df)
        id_col = as_column_name(id_col, "id_col")
        time_col = as_column_name(time_col, "time_col")
        condition_col = as_column_name(condition_col, "condition_col")
        num = as_column_list(num_cols, "num_cols")
        cat = as_column_list(cat_cols, "cat_cols")
        static = as_column_list(static_cols, "static_cols") or []

        taken = {id_col, time_col, *static, *(num or []), *(cat or [])}
        if condition_col is not None:
            taken.add(condition_col)
        # A named column absent from `df` is the error the validator reports next; roles
        # inferred around it (the real id column read as a number) would only mislead.
        absent = any(c not in df.columns for c in taken)
        # Duplicate column names make df[col] a frame; leave them to the validator.
        free = [c for c in dict.fromkeys(df.columns) if c not in taken]
        dtypes = {c: df.dtypes.iloc[i] for i, c in enumerate(df.columns)}
        if num is None:
            num = [c for c in free if is_numeric_kind(dtypes[c])]
        if cat is None:
            cat = [c for c in free if is_categorical_kind(dtypes[c])]
        inferred_static = []
        if static_cols is None and not absent:
            inferred_static = _constant_within_patients(
                df, id_col, [c for c in dict.fromkeys([*num, *cat]) if c != condition_col]
            )
            static = inferred_static
        if not absent and (num_cols is None or cat_cols is None or static_cols is None):
            logger.info("Inferred roles: num_cols=%s, cat_cols=%s, static_cols=%s",
                        num, cat, static)
        if inferred_static:
            warnings.warn(
                f"{len(inferred_static)} column(s) are constant within every patient and are "
                f"modelled as per-patient (static) columns: {inferred_static}. Pass "
                "static_cols to choose them yourself (static_cols=[] models every column over "
                "time).",
                DataWarning,
                stacklevel=3,
            )

        roles = cls(
            id_col=id_col,
            time_col=time_col,
            num_cols=tuple(num),
            cat_cols=tuple(cat),
            static_cols=tuple(static),
            condition_col=condition_col,
        )
        left_out = [c for c in free if c not in roles.columns]
        # Columns "left out" because of a misspelt role would only be noise before its error.
        if left_out and not absent:
            described = ", ".join(f"'{c}' ({dtypes[c]})" for c in left_out)
            warnings.warn(
                f"{len(left_out)} column(s) have no role and are left out of the model: "
                f"{described}. Name them in num_cols, cat_cols or static_cols to keep them.",
                DataWarning,
                stacklevel=3,
            )
        return roles

    @property
    def columns(self) -> list:
        """Every column named in a role, once: id, time, numeric, categorical, static, condition."""
        cols = [self.id_col, self.time_col, *self.num_cols, *self.cat_cols, *self.static_cols]
        if self.condition_col is not None:
            cols.append(self.condition_col)
        return list(dict.fromkeys(cols))

    @property
    def temporal_num_cols(self) -> tuple:
        """Numeric columns that vary over time (`num_cols` not in `static_cols`)."""
        return tuple(c for c in self.num_cols if c not in self.static_cols)

    @property
    def temporal_cat_cols(self) -> tuple:
        """Categorical columns that vary over time (`cat_cols` not in `static_cols`)."""
        return tuple(c for c in self.cat_cols if c not in self.static_cols)

    @property
    def static_num_cols(self) -> tuple:
        """Static columns named in `num_cols` (all numeric ones after `with_static_kinds`)."""
        return tuple(c for c in self.static_cols if c in self.num_cols)

    @property
    def static_cat_cols(self) -> tuple:
        """Static columns named in `cat_cols` (all categorical ones after `with_static_kinds`)."""
        return tuple(c for c in self.static_cols if c in self.cat_cols)

    def with_static_kinds(self, df) -> ColumnRoles:
        """Give every static column a kind, from its dtype in `df` where no role states it.

        Parameters
        ----------
        df : pandas.DataFrame
            Frame whose dtypes decide; only column names and dtypes are read.

        Returns
        -------
        ColumnRoles
            These roles with each static column of unstated kind added to `num_cols` (numeric
            dtypes, booleans excepted) or `cat_cols` (any other dtype), so that
            `static_num_cols` and `static_cat_cols` list them all. Columns absent from `df`
            are left as they are.
        """
        dtypes = dict(zip(df.columns, df.dtypes, strict=True))
        unstated = [
            c
            for c in self.static_cols
            if c in dtypes and c not in self.num_cols and c not in self.cat_cols
        ]
        if not unstated:
            return self
        numeric = tuple(c for c in unstated if is_numeric_kind(dtypes[c]))
        categorical = tuple(c for c in unstated if c not in numeric)
        return replace(
            self, num_cols=self.num_cols + numeric, cat_cols=self.cat_cols + categorical
        )

    def role_of(self) -> dict:
        """Map each column to the list of roles naming it, in the order of `ROLE_NAMES`."""
        found = {}
        for role in ROLE_NAMES:
            value = getattr(self, role)
            names = value if isinstance(value, tuple) and role.endswith("_cols") else (value,)
            for col in names:
                if col is not None:
                    found.setdefault(col, []).append(role)
        return found

    def to_dict(self) -> dict:
        """Return the roles as keyword arguments of ``fit`` (lists for the list-valued roles)."""
        out = asdict(self)
        for role in ("num_cols", "cat_cols", "static_cols"):
            out[role] = list(out[role])
        return out


def _constant_within_patients(df, id_col, columns) -> list:
    """The `columns` that hold one value (missing counts as one) within every patient, when
    some patient has two rows or more: without such a patient nothing says what varies."""
    columns = [c for c in columns if c in df.columns and c != id_col]
    if id_col not in df.columns or not columns or df.columns.duplicated().any():
        return []
    patients = df[id_col]
    if not patients.duplicated().any():
        return []
    counts = df[columns].groupby(patients, sort=False, dropna=False).nunique(dropna=False)
    return [c for c in columns if counts[c].max() <= 1]
