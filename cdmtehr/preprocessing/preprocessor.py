"""SequencePreprocessor: a long DataFrame <-> EncodedCohort, reversibly."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._validation import check_long_frame
from ..disclosure import MIN_PATIENTS, rare_levels, shared_ceiling
from ..exceptions import InvalidDataError, InvalidParameterError
from ..roles import ROLE_NAMES, ColumnRoles
from .encoded import EncodedCohort
from .encoders import CategoricalEncoder, NumericEncoder, can_hold_missing
from .sequences import (
    TimeGrid,
    arrange_rows,
    fill_unobserved,
    fresh_ids,
    id_kind,
    scatter,
    time_to_numbers,
)


class SequencePreprocessor(BaseEstimator):
    """Encode a long frame of patients as padded arrays for the model, and decode it back.

    Rows are grouped by patient and sorted by time; a patient's rows become time steps
    ``0 .. length - 1`` of arrays padded to `max_length_` steps (the longest stay or a little
    above). Numeric columns become normal scores (:class:`NumericEncoder`) with an observation
    mask, categorical columns integer codes (:class:`CategoricalEncoder`, missing is a
    level), static columns one value per patient, and the condition column a class index.
    When times are not on one regular grid, the gap to the previous row is an extra numeric
    channel (the last one). When patients start at different times (datetimes of a hospital
    export), times count from each patient's first row, and that first time is an extra static
    numeric channel (the last one), drawn with the other per-patient values.

    Parameters
    ----------
    max_levels : int, default=1000
        Largest vocabulary accepted for a categorical column.
    n_quantiles : int, default=1000
        Quantiles of each numeric column's transform.
    subsample : int, default=1_000_000
        Largest number of values used to estimate a column's quantiles.
    random_state : int or None, default=0
        Seeds the quantile subsample (only used for columns larger than `subsample`).
    max_decimals : int or None, default=6
        Decoded numeric values are rounded to the precision each column was recorded at (the
        fewest decimals, up to this many, that all its values have); None rounds only columns
        of whole numbers. See `NumericEncoder`.
    min_patients_per_value : int, default=MIN_PATIENTS
        Fewest distinct patients behind every value a numeric encoder keeps: each column's
        distribution is kept as values that at least this many patients share, or means of
        groups of that many (see `NumericEncoder`). A numeric column measured in fewer
        patients, or a temporal or static categorical column with a level that fewer
        patients have (a fitted model keeps every level), is an error (`InvalidDataError`);
        the condition's classes are kept as given. 1 keeps single patients' values.

    Attributes
    ----------
    roles_ : ColumnRoles
        The resolved column roles.
    columns_ : list
        Modelled columns in the input's order (the output's columns).
    feature_names_in_ : ndarray of str
        All columns of the frame seen in `fit`.
    n_features_in_ : int
        Their number.
    numeric_names_ : list
        Name of each numeric channel; the gap channel, when present, is ``"<time_col>.gap"``.
    numeric_encoders_ : list of NumericEncoder
        One per numeric channel.
    categorical_names_ : list
        Temporal categorical columns.
    categorical_encoders_ : list of CategoricalEncoder
        One per temporal categorical column.
    categorical_levels_ : tuple of int
        Their vocabulary sizes.
    static_numeric_names_, static_categorical_names_ : list
        Static columns by kind (as also named in `num_cols` or `cat_cols`, else by dtype); the
        start channel, when present, is the last static numeric one, ``"<time_col>.start"``.
    static_numeric_encoders_, static_categorical_encoders_ : list
        Their encoders (fitted on one value per patient).
    static_categorical_levels_ : tuple of int
        Vocabulary sizes of the static categorical columns.
    condition_encoder_ : CategoricalEncoder or None
        Encoder of the condition column.
    classes_ : ndarray
        Classes of the condition column (empty without one).
    time_grid_ : TimeGrid
        Origin, unit and regularity of the times.
    has_gap_channel_ : bool
        Whether the last numeric channel is the time gap (irregular times).
    has_start_channel_ : bool
        Whether the last static numeric channel is each patient's start (starts vary).
    max_length_ : int
        Time steps T that arrays are padded to: the longest stay when at least
        `min_patients_per_value` patients have it, else rounded up to no patient's length
        (`cdmtehr.disclosure.shared_ceiling`).
    n_patients_ : int
        Patients seen in `fit`.

    See Also
    --------
    EncodedCohort : The arrays produced by `transform`.

    Notes
    -----
    The input frame is never modified. Patients are ordered by sorted id (by first
    appearance when ids cannot be sorted); ``transform(df, return_ids=True)`` returns them.
    Fitted attributes hold no patient ids, so a saved model does not carry them.

    Examples
    --------
    >>> import pandas as pd
    >>> from cdmtehr.preprocessing import SequencePreprocessor
    >>> df = pd.DataFrame({"id": [1, 1, 2], "t": [0, 1, 0], "hr": [80.0, None, 95.0]})
    >>> pre = SequencePreprocessor(min_patients_per_value=1).fit(df, id_col="id", time_col="t")
    >>> cohort, ids = pre.transform(df, return_ids=True)
    >>> cohort.numeric.shape, cohort.lengths.tolist()
    ((2, 2, 1), [2, 1])
    >>> pre.inverse_transform(cohort, ids=ids).equals(df)
    True
    """

    def __init__(
        self, *, max_levels=1000, n_quantiles=1000, subsample=1_000_000, random_state=0,
        max_decimals=6, min_patients_per_value=MIN_PATIENTS,
    ):
        self.max_levels = max_levels
        self.n_quantiles = n_quantiles
        self.subsample = subsample
        self.random_state = random_state
        self.max_decimals = max_decimals
        self.min_patients_per_value = min_patients_per_value

    # -- fit -------------------------------------------------------------------------------------
    def fit(
        self,
        df,
        roles=None,
        *,
        id_col=None,
        time_col=None,
        num_cols=None,
        cat_cols=None,
        static_cols=None,
        condition_col=None,
    ) -> SequencePreprocessor:
        """Learn the roles, encoders, time grid and longest stay from a long frame.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per (patient, time). Never modified.
        roles : ColumnRoles or dict, optional
            All roles at once (e.g. from ``load_physionet2012(return_roles=True)``); or give
            them as the keyword arguments below, as in ``CDMTSynthesizer.fit``.
        id_col, time_col : str
            Patient identifier and time columns (required unless `roles` is given).
        num_cols, cat_cols : str or list of str, optional
            Numeric and categorical columns; None infers them from the dtypes.
        static_cols : str or list of str, optional
            Per-patient columns. One also in `num_cols` or `cat_cols` is static of that
            kind; otherwise its dtype decides.
        condition_col : str, optional
            Per-patient class column.

        Returns
        -------
        self : SequencePreprocessor
            The fitted preprocessor.

        Raises
        ------
        InvalidDataError
            Listing every problem of the data (see :func:`cdmtehr._validation.check_long_frame`),
            every numeric column measured in fewer than `min_patients_per_value` patients,
            or every categorical column (the condition aside) with a level that fewer
            patients have.
        InvalidParameterError
            If `min_patients_per_value` is not a positive int.
        InvalidDataTypeError
            If `df` is not a DataFrame.
        """
        roles = self._resolve_roles(
            df,
            roles,
            id_col=id_col,
            time_col=time_col,
            num_cols=num_cols,
            cat_cols=cat_cols,
            static_cols=static_cols,
            condition_col=condition_col,
        )
        check_long_frame(df, roles, max_levels=self.max_levels)
        self._fit(df, roles, self._arrange(df, roles))
        return self

    def fit_transform(self, df, roles=None, *, return_ids=False, **role_kwargs):
        """Fit, then transform the same frame (sorting its rows once).

        Parameters
        ----------
        df : pandas.DataFrame
            One row per (patient, time). Never modified.
        roles : ColumnRoles or dict, optional
            As in `fit`.
        return_ids : bool, default=False
            Also return the patient ids in cohort order.
        **role_kwargs
            `id_col`, `time_col`, `num_cols`, `cat_cols`, `static_cols`, `condition_col`,
            as in `fit`.

        Returns
        -------
        EncodedCohort, or (EncodedCohort, pandas.Index) when `return_ids`
            The encoded patients (and their ids).
        """
        unknown = sorted(set(role_kwargs) - set(ROLE_NAMES))
        if unknown:
            raise TypeError(f"fit_transform() got unexpected keyword arguments {unknown}")
        roles = self._resolve_roles(df, roles, **role_kwargs)
        check_long_frame(df, roles, max_levels=self.max_levels)
        layout = self._arrange(df, roles)
        self._fit(df, roles, layout)
        cohort = self._encode(df, layout)
        return (cohort, layout.ids) if return_ids else cohort

    def _resolve_roles(self, df, roles, **kwargs) -> ColumnRoles:
        given = {k: v for k, v in kwargs.items() if v is not None}
        if roles is not None:
            if given:
                raise InvalidParameterError(
                    "Give the column roles either as 'roles' or as keyword arguments, not both "
                    f"(got roles and {sorted(given)})."
                )
            if isinstance(roles, ColumnRoles):
                kwargs = roles.to_dict()
            elif isinstance(roles, Mapping):
                unknown = sorted(set(roles) - set(ROLE_NAMES))
                if unknown:
                    raise InvalidParameterError(
                        f"The 'roles' argument has unknown keys {unknown}; expected some of "
                        f"{list(ROLE_NAMES)}."
                    )
                kwargs = {name: roles.get(name) for name in ROLE_NAMES}
            else:
                raise InvalidParameterError(
                    "The 'roles' argument must be a ColumnRoles or a dict; got "
                    f"{type(roles).__name__}."
                )
        for name in ("id_col", "time_col"):
            if kwargs.get(name) is None:
                raise InvalidParameterError(f"The '{name}' argument is required.")
        id_col, time_col = kwargs.pop("id_col"), kwargs.pop("time_col")
        return ColumnRoles.resolve(df, id_col, time_col, **kwargs)

    @staticmethod
    def _arrange(df, roles):
        times, _ = time_to_numbers(df[roles.time_col])
        return arrange_rows(df[roles.id_col], times)

    def _fit(self, df, roles, layout):
        least = self.min_patients_per_value
        if not isinstance(least, numbers.Integral) or isinstance(least, bool) or least < 1:
            raise InvalidParameterError(
                "The 'min_patients_per_value' parameter of SequencePreprocessor must be an int "
                f"in the range [1, inf). Got {least!r} instead."
            )
        if layout.n_patients < least:
            raise InvalidDataError(
                [
                    f"Column '{roles.id_col}' (id_col) has {layout.n_patients} patient(s); a "
                    f"fitted model keeps no value that fewer than {least} patients share "
                    "(min_patients_per_value). Pass more patients or lower "
                    "min_patients_per_value."
                ]
            )
        encoder_params = {
            "n_quantiles": self.n_quantiles,
            "subsample": self.subsample,
            "random_state": self.random_state,
            "max_decimals": self.max_decimals,
            "min_patients_per_value": least,
        }
        kinds = roles.with_static_kinds(df)
        static_numeric = list(kinds.static_num_cols)
        static_categorical = list(kinds.static_cat_cols)
        per_patient = df.iloc[layout.first_rows]
        # The patient of each row in the frame's order (layout.patient is in sorted order).
        row_patients = np.empty(len(layout.order), dtype=np.int64)
        row_patients[layout.order] = layout.patient
        problems = []

        def fit_numeric(values, patients):
            try:
                return NumericEncoder(**encoder_params).fit(values, patients)
            except ValueError as error:  # too few patients: report every such column at once
                problems.append(str(error))
                return None

        time_grid = TimeGrid().fit(df[roles.time_col], layout, least)
        numeric_names = list(roles.temporal_num_cols)
        numeric_encoders = [fit_numeric(df[c], row_patients) for c in numeric_names]
        if not time_grid.regular_:
            gaps = pd.Series(time_grid.gaps(df[roles.time_col], layout), name=roles.time_col)
            numeric_encoders.append(fit_numeric(gaps, layout.patient))  # gaps in sorted order
            numeric_names.append(f"{roles.time_col}.gap")
        static_numeric_encoders = [
            fit_numeric(per_patient[c], np.arange(layout.n_patients)) for c in static_numeric
        ]
        if time_grid.starts_vary_:
            name = f"{roles.time_col}.start"
            starts = pd.Series(time_grid.starts(df[roles.time_col], layout), name=name)
            static_numeric_encoders.append(fit_numeric(starts, np.arange(layout.n_patients)))
            static_numeric.append(name)
        # The condition's classes are the user's labels, asked for by name when sampling:
        # they are kept as they are, with the class prior.
        categorical = [(c, df[c], row_patients) for c in roles.temporal_cat_cols]
        categorical += [(c, per_patient[c], None) for c in static_categorical]
        problems += [
            problem for name, values, patients in categorical
            if (problem := _rare_levels_problem(name, values, patients, least))
        ]
        if problems:
            raise InvalidDataError(problems)
        categorical_encoders = [
            CategoricalEncoder().fit(df[c]) for c in roles.temporal_cat_cols
        ]
        static_categorical_encoders = [
            CategoricalEncoder().fit(per_patient[c]) for c in static_categorical
        ]

        self.roles_ = roles
        self.feature_names_in_ = np.asarray(df.columns, dtype=object)
        self.n_features_in_ = len(df.columns)
        modelled = set(roles.columns)
        self.columns_ = [c for c in df.columns if c in modelled]
        self.id_dtype_ = df[roles.id_col].dtype
        self.id_kind_ = id_kind(df[roles.id_col])
        self.time_grid_ = time_grid
        self.has_gap_channel_ = not time_grid.regular_
        self.has_start_channel_ = time_grid.starts_vary_
        self.numeric_names_ = numeric_names
        self.numeric_encoders_ = numeric_encoders
        self.categorical_names_ = list(roles.temporal_cat_cols)
        self.categorical_encoders_ = categorical_encoders
        self.categorical_levels_ = tuple(e.n_levels_ for e in categorical_encoders)
        self.static_numeric_names_ = static_numeric
        self.static_numeric_encoders_ = static_numeric_encoders
        self.static_categorical_names_ = static_categorical
        self.static_categorical_encoders_ = static_categorical_encoders
        self.static_categorical_levels_ = tuple(
            e.n_levels_ for e in static_categorical_encoders
        )
        if roles.condition_col is None:
            self.condition_encoder_ = None
            self.classes_ = np.array([])
        else:
            self.condition_encoder_ = CategoricalEncoder().fit(per_patient[roles.condition_col])
            self.classes_ = self.condition_encoder_.levels_.to_numpy()
        self.max_length_ = shared_ceiling(layout.lengths, least)
        self.n_patients_ = layout.n_patients

    # -- transform -------------------------------------------------------------------------------
    def transform(self, df, *, return_ids=False, partial=False):
        """Encode a long frame with the fitted roles and encoders.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per (patient, time), with the fitted columns. Never modified.
        return_ids : bool, default=False
            Also return the patient ids in cohort order (pass them to `inverse_transform`
            to get the same ids back).
        partial : bool, default=False
            The frame holds part of the patients' data (see `cdmtehr.completion`): a numeric
            column may be missing throughout.

        Returns
        -------
        EncodedCohort, or (EncodedCohort, pandas.Index) when `return_ids`
            The encoded patients (and their ids).

        Raises
        ------
        InvalidDataError
            If the frame does not fit the roles, has a stay longer than `max_length_`, or has
            values never seen in `fit`.
        """
        check_is_fitted(self, "roles_")
        check_long_frame(df, self.roles_, max_levels=None, partial=partial)
        layout = self._arrange(df, self.roles_)
        cohort = self._encode(df, layout)
        return (cohort, layout.ids) if return_ids else cohort

    def _encode(self, df, layout) -> EncodedCohort:
        roles = self.roles_
        n_patients, max_length = layout.n_patients, self.max_length_
        if layout.lengths.max() > max_length:
            longest = int(np.argmax(layout.lengths))
            raise InvalidDataError(
                [
                    f"Column '{roles.id_col}' (id_col): patient {layout.ids[longest]} has "
                    f"{layout.lengths[longest]} rows, more than the {max_length} time steps "
                    "seen in fit."
                ]
            )
        order, patient, position = layout.order, layout.patient, layout.position
        valid = np.arange(max_length)[None, :] < layout.lengths[:, None]
        problems = []

        # One float32 column at a time into the rows in stay order: a cohort of millions of
        # rows then never holds its scores twice over in float64.
        scores = np.empty((len(order), len(self.numeric_encoders_)), dtype=np.float32)
        for j, (name, enc) in enumerate(self._numeric_columns()):
            scores[:, j] = self._encode_column(enc, df[name], problems)[order]
        if self.has_gap_channel_:
            gaps = self.time_grid_.gaps(df[roles.time_col], layout)  # already in sorted order
            scores[:, -1] = self.numeric_encoders_[-1].transform(gaps)
        shape = (n_patients, max_length, scores.shape[1])
        scores = scatter(scores, patient, position, shape, np.float32(np.nan))
        observed = ~np.isnan(scores)
        numeric = fill_unobserved(scores, observed, valid)
        del scores

        codes = [
            self._encode_column(enc, df[name], problems)
            for name, enc in zip(roles.temporal_cat_cols, self.categorical_encoders_, strict=True)
        ]
        codes = np.stack(codes, axis=1)[order] if codes else np.zeros((len(order), 0), np.int64)
        shape = (n_patients, max_length, codes.shape[1])
        categorical = scatter(codes, patient, position, shape, 0)

        per_patient = df.iloc[layout.first_rows]
        static_scores = np.zeros((n_patients, len(self.static_numeric_encoders_)))
        for j, (name, enc) in enumerate(self._static_numeric_columns()):
            static_scores[:, j] = self._encode_column(enc, per_patient[name], problems)
        if self.has_start_channel_:
            starts = self.time_grid_.starts(df[roles.time_col], layout)
            static_scores[:, -1] = self.static_numeric_encoders_[-1].transform(starts)
        static_observed = ~np.isnan(static_scores)
        static_codes = np.zeros((n_patients, len(self.static_categorical_encoders_)), np.int64)
        for j, (name, enc) in enumerate(
            zip(self.static_categorical_names_, self.static_categorical_encoders_, strict=True)
        ):
            static_codes[:, j] = self._encode_column(enc, per_patient[name], problems)
        if self.condition_encoder_ is None:
            condition = np.zeros(n_patients, np.int64)
        else:
            condition = self._encode_column(
                self.condition_encoder_, per_patient[roles.condition_col], problems
            )
        if problems:
            raise InvalidDataError(problems)

        return EncodedCohort(
            numeric=numeric,
            observed=observed,
            categorical=categorical.astype(np.int64),
            static_numeric=np.where(static_observed, static_scores, 0.0).astype(np.float32),
            static_observed=static_observed,
            static_categorical=static_codes,
            condition=np.asarray(condition, dtype=np.int64),
            lengths=layout.lengths.copy(),
            categorical_levels=self.categorical_levels_,
            static_categorical_levels=self.static_categorical_levels_,
            n_classes=len(self.classes_),
        )

    @staticmethod
    def _encode_column(encoder, values, problems):
        """Transform one column, collecting unseen-level errors instead of stopping at one."""
        try:
            return encoder.transform(values)
        except ValueError as error:
            problems.append(str(error))
            return np.zeros(len(values), dtype=np.int64)

    # -- inverse ---------------------------------------------------------------------------------
    def inverse_transform(self, encoded, *, ids=None, id_start=0, starts=None) -> pd.DataFrame:
        """Decode a cohort into a long frame shaped like the fitted input.

        Works on any `EncodedCohort` with the fitted layout, including generated ones.

        Parameters
        ----------
        encoded : EncodedCohort
            The patients to decode.
        ids : array-like of shape (N,), optional
            Patient ids in cohort order (e.g. from ``transform(df, return_ids=True)``).
            By default fresh ids: ``0 .. N-1`` for integer ids, ``"synthetic-000001"`` ... for
            string ids, UUIDs derived from the index for UUID ids.
        id_start : int, default=0
            Number of the first fresh id, so that cohorts decoded in chunks (streaming) get
            distinct ids: decode chunk after chunk with ``id_start = 0, N1, N1 + N2, ...``
            (see :func:`~cdmtehr.preprocessing.sequences.fresh_ids`). Only used without `ids`.
        starts : array-like of shape (N,), optional
            Each patient's first time, in the time column's dtype, in place of the start
            channel's (completion keeps the known patients' own starts). Only used when
            starts vary (`has_start_channel_`).

        Returns
        -------
        pandas.DataFrame
            One row per valid time step (``lengths``), sorted by (id, time), with a
            RangeIndex; the fitted columns in the input's order and dtypes. Numeric values are
            NaN where `observed` is False (except in dtypes that cannot hold NaN, such as
            numpy ints, which were never missing in fit); static values and the condition are
            repeated on every row of the patient.

        Raises
        ------
        InvalidParameterError
            If `encoded` does not have the fitted layout, `ids` has the wrong length or
            repeats an id, or `id_start` is not a non-negative int (or is given with `ids`).
        """
        check_is_fitted(self, "roles_")
        self._check_layout(encoded)
        if not isinstance(id_start, numbers.Integral) or isinstance(id_start, bool) or id_start < 0:
            raise InvalidParameterError(
                "The 'id_start' parameter of SequencePreprocessor.inverse_transform must be an "
                f"int in the range [0, inf). Got {id_start!r} instead."
            )
        if ids is not None and id_start != 0:
            raise InvalidParameterError(
                "Give either 'ids' or 'id_start' to SequencePreprocessor.inverse_transform, not "
                "both: 'id_start' numbers fresh ids."
            )
        roles = self.roles_
        n_patients = encoded.n_patients
        valid = encoded.length_mask()
        patient, position = np.nonzero(valid)

        patient_ids = self._patient_ids(ids, n_patients, int(id_start))
        out = {roles.id_col: patient_ids.take(patient)}
        grid = self.time_grid_
        first = self._start_numbers(encoded, starts)
        if grid.regular_:
            out[roles.time_col] = grid.times_from_positions(
                position, None if first is None else first[patient]
            )
        else:
            gap_encoder = self.numeric_encoders_[-1]
            gaps = gap_encoder.inverse_transform(encoded.numeric[:, :, -1][valid])
            padded = np.zeros(valid.shape)
            padded[valid] = gaps.to_numpy(dtype=np.float64)
            out[roles.time_col] = grid.to_time(grid.times_from_gaps(padded, valid, first))
        for k, (name, enc) in enumerate(self._numeric_columns()):
            scores, seen = encoded.numeric[:, :, k][valid], encoded.observed[:, :, k][valid]
            out[name] = _decode_numeric(enc, scores, seen)
        categorical = zip(roles.temporal_cat_cols, self.categorical_encoders_, strict=True)
        for k, (name, enc) in enumerate(categorical):
            out[name] = enc.inverse_transform(encoded.categorical[:, :, k][valid])
        for j, (name, enc) in enumerate(self._static_numeric_columns()):
            scores, seen = encoded.static_numeric[:, j], encoded.static_observed[:, j]
            out[name] = _decode_numeric(enc, scores, seen).take(patient)
        static_categorical = zip(
            self.static_categorical_names_, self.static_categorical_encoders_, strict=True
        )
        for j, (name, enc) in enumerate(static_categorical):
            out[name] = enc.inverse_transform(encoded.static_categorical[:, j]).take(patient)
        if self.condition_encoder_ is not None:
            decoded = self.condition_encoder_.inverse_transform(encoded.condition)
            out[roles.condition_col] = decoded.take(patient)

        frame = pd.DataFrame(
            {c: pd.Series(out[c]).reset_index(drop=True) for c in self.columns_}
        )
        rank = _sort_rank(patient_ids)
        if rank is not None:
            frame = frame.take(np.lexsort((position, rank[patient]))).reset_index(drop=True)
        return frame

    def condition_indices(self, n, condition=None, *, prior=None, random_state=None,
                          owner="SequencePreprocessor.condition_indices") -> np.ndarray:
        """Class index of each of `n` patients for a `condition` as `CDMTSynthesizer.sample` takes.

        Parameters
        ----------
        n : int
            Number of patients.
        condition : None, class, dict or array-like, default=None
            None draws the classes from `prior`; one class gives all `n` patients that class;
            ``{class: count}`` must sum to `n`; an array-like gives one class per patient.
            Without a condition column, only None is accepted (all patients get index 0).
        prior : array-like of float, optional
            Frequencies of `classes_` to draw from when `condition` is None.
        random_state : int, RandomState, Generator or None, default=None
            Source of the classes drawn from `prior`.
        owner : str
            The method named in error messages.

        Returns
        -------
        ndarray of shape (n,), int64

        Raises
        ------
        InvalidParameterError
            For a class never seen in fit, counts that do not sum to `n`, or a malformed
            `condition`; the message names the nearest known class where one looks alike.
        """
        check_is_fitted(self, "roles_")
        where = f"The 'condition' parameter of {owner}"
        classes = self.classes_
        if len(classes) == 0:
            if condition is not None:
                raise InvalidParameterError(
                    f"{where} needs a model fitted with condition_col; this one was fitted "
                    "without."
                )
            return np.zeros(n, dtype=np.int64)
        if condition is None:
            rng = check_random_state(random_state)
            return rng.choice(len(classes), size=n, p=prior).astype(np.int64)
        known = classes.tolist()
        lookup = {_class_key(c): i for i, c in enumerate(classes)}

        def index_of(value):
            try:
                return lookup[_class_key(value)]
            except (KeyError, TypeError):  # TypeError: an unhashable value (a list, a dict)
                pass
            # A class given as 1 for "1" (or the reverse) is the common slip: name it.
            same_text = [c for c in known if str(c) == str(value)]
            hint = f" Did you mean {same_text[0]!r}?" if same_text else ""
            raise InvalidParameterError(
                f"{where} got class {value!r} ({type(value).__name__}), which was never seen "
                f"in fit; known classes: {known}.{hint}"
            )

        if isinstance(condition, dict):
            counts = {}
            for key, count in condition.items():
                index = index_of(key)
                if index in counts:
                    raise InvalidParameterError(f"{where} names class {known[index]!r} twice.")
                counts[index] = count
            valid = all(
                isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 0
                for v in counts.values()
            )
            if not valid or sum(counts.values()) != n:
                total = f" (sum {sum(counts.values())})" if valid else ""
                raise InvalidParameterError(
                    f"{where} is a {{class: count}} dict whose counts must be non-negative ints "
                    f"summing to n={n}. Got {condition!r}{total}."
                )
            return np.repeat(list(counts), list(counts.values())).astype(np.int64)
        try:
            ndim = np.ndim(condition)
        except ValueError:  # a ragged nest of sequences
            ndim = 2
        if isinstance(condition, (set, frozenset)) or ndim > 1:
            raise InvalidParameterError(
                f"{where} must be None, one class, a {{class: count}} dict or a 1-D sequence "
                f"of classes (one per patient); got a {type(condition).__name__}."
            )
        if ndim == 0:
            return np.full(n, index_of(condition), dtype=np.int64)
        values = list(condition)
        if len(values) != n:
            raise InvalidParameterError(
                f"{where} is array-like with {len(values)} entries; it must have one per "
                f"patient (n={n})."
            )
        return np.asarray([index_of(v) for v in values], dtype=np.int64)

    def _numeric_columns(self) -> list:
        """(column, encoder) of the numeric columns (the gap channel excluded)."""
        names = self.roles_.temporal_num_cols
        return list(zip(names, self.numeric_encoders_[: len(names)], strict=True))

    def _static_numeric_columns(self) -> list:
        """(column, encoder) of the static numeric columns (the start channel excluded)."""
        pairs = zip(self.static_numeric_names_, self.static_numeric_encoders_, strict=True)
        return list(pairs)[: len(self.static_numeric_names_) - self.has_start_channel_]

    def _start_numbers(self, encoded, starts):
        """Each patient's first time as numbers when starts vary (given, else decoded)."""
        if not self.has_start_channel_:
            return None
        if starts is not None:
            first, _ = time_to_numbers(pd.Series(starts).astype(self.time_grid_.dtype_))
            if len(first) != encoded.n_patients:
                raise InvalidParameterError(
                    f"The 'starts' argument has {len(first)} times; the cohort has "
                    f"{encoded.n_patients} patients."
                )
            return first
        decoded = self.static_numeric_encoders_[-1].inverse_transform(encoded.static_numeric[:, -1])
        return self.time_grid_.start_numbers(decoded.to_numpy(dtype=np.float64))

    def _check_layout(self, encoded):
        if not isinstance(encoded, EncodedCohort):
            raise InvalidParameterError(
                f"inverse_transform expects an EncodedCohort; got {type(encoded).__name__}."
            )
        expected = {
            "numeric channels": (encoded.numeric.shape[2], len(self.numeric_encoders_)),
            "categorical levels": (encoded.categorical_levels, self.categorical_levels_),
            "static numeric columns": (
                encoded.static_numeric.shape[1],
                len(self.static_numeric_encoders_),
            ),
            "static categorical levels": (
                encoded.static_categorical_levels,
                self.static_categorical_levels_,
            ),
            "classes": (encoded.n_classes, len(self.classes_)),
        }
        wrong = [f"{k}: got {got}, fitted {want}" for k, (got, want) in expected.items()
                 if tuple(np.atleast_1d(got)) != tuple(np.atleast_1d(want))]
        lengths = np.asarray(encoded.lengths)
        if lengths.size and (lengths.min() < 1 or lengths.max() > encoded.max_length):
            wrong.append(f"lengths must be in [1, {encoded.max_length}]")
        if wrong:
            raise InvalidParameterError(
                "The cohort does not have the layout this preprocessor was fitted on ("
                + "; ".join(wrong) + ")."
            )

    def _patient_ids(self, ids, n_patients, id_start=0) -> pd.Index:
        id_col = self.roles_.id_col
        if ids is None:
            return fresh_ids(n_patients, self.id_kind_, self.id_dtype_, id_col, start=id_start)
        ids = pd.Index(ids, name=id_col)
        if len(ids) != n_patients:
            raise InvalidParameterError(
                f"The 'ids' argument has {len(ids)} ids; the cohort has {n_patients} patients."
            )
        if not ids.is_unique:
            raise InvalidParameterError("The 'ids' argument repeats patient ids.")
        if ids.dtype != self.id_dtype_:
            try:
                ids = pd.Index(pd.Series(ids).astype(self.id_dtype_), name=id_col)
            except (TypeError, ValueError):
                pass  # keep the caller's ids as given
        return ids


def _class_key(value):
    # 1, 1.0, np.int8(1) and "1" stay distinct, but numpy scalars equal Python ones.
    return value.item() if isinstance(value, np.generic) else value


def _decode_numeric(encoder, scores, observed) -> pd.Series:
    """Decode scores, NaN where unobserved (dtypes without NaN were never missing in fit)."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    if can_hold_missing(encoder.dtype_):
        scores[~observed] = np.nan
    return encoder.inverse_transform(scores)


def _sort_rank(ids) -> np.ndarray | None:
    """Rank of each id in sorted order, or None if already sorted or not sortable."""
    if ids.is_monotonic_increasing:
        return None
    try:
        order = ids.argsort(kind="stable")
    except TypeError:
        return None
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return rank


def _rare_levels_problem(name, values, patients, least: int):
    """The error line for a categorical column with levels that fewer than `least` patients
    have (`cdmtehr.disclosure.rare_levels`), or None."""
    rare = rare_levels(values, patients, least)
    if not rare:
        return None
    shown = ", ".join(repr(level) for level in rare[:5])
    more = f" and {len(rare) - 5} more" if len(rare) > 5 else ""
    return (
        f"Column '{name}' has {len(rare)} level(s) that fewer than {least} patients have "
        f"({shown}{more}); a fitted model keeps every level of a categorical column, and no "
        f"value that fewer than {least} patients share (min_patients_per_value). Group rare "
        "levels into a shared one before fitting, or lower min_patients_per_value to keep "
        "them in the model file."
    )
