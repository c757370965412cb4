"""ColumnRoles: which column of a long frame plays which part, and inference from dtypes."""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass

import pandas as pd

from .._validation import check_frame_type
from ..exceptions import DataWarning, InvalidParameterError

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


def _as_column_list(value, role):
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


def _as_column_name(value, role):
    if pd.api.types.is_list_like(value) and not isinstance(value, (str, bytes, tuple)):
        raise InvalidParameterError(
            f"The '{role}' argument must be one column name; got {value!r}."
        )
    return value


@dataclass(frozen=True)
class ColumnRoles:
    """The part each column of a long frame plays.

    Parameters
    ----------
    id_col : str
        Patient identifier.
    time_col : str
        Time of the row (integers, floats or datetimes).
    num_cols : tuple of str
        Temporal numeric columns.
    cat_cols : tuple of str
        Temporal categorical columns.
    static_cols : tuple of str
        Per-patient columns, constant within a patient. Their numeric or categorical kind is
        inferred from the dtype (see :meth:`split_static`).
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
        and boolean dtypes are categorical. Columns that end up in no role (including those of
        other dtypes, such as datetimes) are reported in one `DataWarning` and left out of the
        model. A single column name is accepted where a list is expected.

        Parameters
        ----------
        df : pandas.DataFrame
            The long frame; only its column names and dtypes are read.
        id_col, time_col : str
            Patient identifier and time columns.
        num_cols, cat_cols, static_cols : str or list of str, optional
            Temporal numeric, temporal categorical and per-patient columns.
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
        id_col = _as_column_name(id_col, "id_col")
        time_col = _as_column_name(time_col, "time_col")
        condition_col = _as_column_name(condition_col, "condition_col")
        num = _as_column_list(num_cols, "num_cols")
        cat = _as_column_list(cat_cols, "cat_cols")
        static = _as_column_list(static_cols, "static_cols") or []

        taken = {id_col, time_col, *static, *(num or []), *(cat or [])}
        if condition_col is not None:
            taken.add(condition_col)
        # Duplicate column names make df[col] a frame; leave them to the validator.
        free = [c for c in dict.fromkeys(df.columns) if c not in taken]
        dtypes = {c: df.dtypes.iloc[i] for i, c in enumerate(df.columns)}
        if num is None:
            num = [c for c in free if is_numeric_kind(dtypes[c])]
        if cat is None:
            cat = [c for c in free if is_categorical_kind(dtypes[c])]
        if num_cols is None or cat_cols is None:
            logger.info("Inferred roles from dtypes: num_cols=%s, cat_cols=%s", num, cat)

        roles = cls(
            id_col=id_col,
            time_col=time_col,
            num_cols=tuple(num),
            cat_cols=tuple(cat),
            static_cols=tuple(static),
            condition_col=condition_col,
        )
        left_out = [c for c in free if c not in roles.columns]
        if left_out:
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
        """Every column named in a role: id, time, numeric, categorical, static, condition."""
        cols = [self.id_col, self.time_col, *self.num_cols, *self.cat_cols, *self.static_cols]
        if self.condition_col is not None:
            cols.append(self.condition_col)
        return cols

    def role_of(self) -> dict:
        """Map each column to the list of roles naming it (a column may wrongly have two)."""
        found = {}
        for role in ROLE_NAMES:
            value = getattr(self, role)
            names = value if isinstance(value, tuple) and role.endswith("_cols") else (value,)
            for col in names:
                if col is not None:
                    found.setdefault(col, []).append(role)
        return found

    def split_static(self, df) -> tuple:
        """Split the static columns into (numeric, categorical) lists by their dtype in `df`."""
        numeric = [c for c in self.static_cols if is_numeric_kind(df[c].dtype)]
        categorical = [c for c in self.static_cols if c not in numeric]
        return numeric, categorical

    def to_dict(self) -> dict:
        """Return the roles as keyword arguments of ``fit`` (lists for the list-valued roles)."""
        out = asdict(self)
        for role in ("num_cols", "cat_cols", "static_cols"):
            out[role] = list(out[role])
        return out
