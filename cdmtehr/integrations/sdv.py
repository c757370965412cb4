"""An SDV-shaped face for CDMTSynthesizer: metadata in, ``fit(data)``, ``sample_sequences``.

SDV's sequential synthesizers (``PARSynthesizer``) take a metadata object at construction,
``fit`` the data alone and generate with ``sample_sequences(num_sequences,
sequence_length=None)``. Two SDV generations differ in how tables travel: sdv 1.x passes a
DataFrame, sdv 2.x a ``{table_name: DataFrame}`` dict. `SDVSequentialSynthesizer` accepts both
and returns what it was given, so that a pipeline swaps ``PARSynthesizer`` for
``CDMTSynthesizer.from_sdv_metadata`` by changing one line. SDV itself is not needed.
"""

from __future__ import annotations

import pandas as pd

from ..exceptions import InvalidDataError, InvalidParameterError

_NUMERIC_SDTYPES = {"numerical"}
_SKIPPED_SDTYPES = {"id"}  # ids other than the sequence key carry no signal to learn


def _metadata_dict(metadata) -> dict:
    if hasattr(metadata, "to_dict"):
        metadata = metadata.to_dict()
    if not isinstance(metadata, dict):
        raise InvalidParameterError(
            "The 'metadata' parameter of CDMTSynthesizer.from_sdv_metadata must be an SDV "
            f"Metadata object or its dict. Got {type(metadata).__name__} instead."
        )
    return metadata


def _single_table(metadata: dict) -> tuple:
    """(table name or None, table dict) of single- or multi-table SDV metadata."""
    if "tables" in metadata:
        tables = metadata["tables"]
        if len(tables) != 1:
            raise InvalidParameterError(
                "CDMTSynthesizer.from_sdv_metadata models one sequential table; the metadata "
                f"has {len(tables)}: {sorted(tables)}."
            )
        (name, table), = tables.items()
        return name, table
    return None, metadata


def roles_from_sdv_metadata(metadata, context_columns=None, condition_column=None) -> tuple:
    """Translate SDV metadata into cdmtehr column roles.

    Parameters
    ----------
    metadata : sdv Metadata, SingleTableMetadata or dict
        Must name a ``sequence_key`` (patient id) and a ``sequence_index`` (time).
    context_columns : list of str, optional
        SDV's per-sequence columns: cdmtehr's ``static_cols``.
    condition_column : str, optional
        A context column to generate and condition on (``condition_col``).

    Returns
    -------
    table_name : str or None
        The table's name in multi-table metadata.
    roles : dict
        Keyword arguments of ``CDMTSynthesizer.fit``.
    """
    name, table = _single_table(_metadata_dict(metadata))
    id_col, time_col = table.get("sequence_key"), table.get("sequence_index")
    if not id_col or not time_col:
        raise InvalidParameterError(
            "The SDV metadata must set 'sequence_key' (patient id) and 'sequence_index' "
            f"(time) for a sequential table; got sequence_key={id_col!r}, "
            f"sequence_index={time_col!r}. Use metadata.set_sequence_key(...) and "
            "metadata.set_sequence_index(...)."
        )
    context = list(context_columns or [])
    static = [c for c in context if c != condition_column]
    num_cols, cat_cols = [], []
    for column, spec in table.get("columns", {}).items():
        if column in (id_col, time_col) or column in context or column == condition_column:
            continue
        sdtype = spec.get("sdtype")
        if sdtype in _SKIPPED_SDTYPES:
            continue
        (num_cols if sdtype in _NUMERIC_SDTYPES else cat_cols).append(column)
    roles = {
        "id_col": id_col,
        "time_col": time_col,
        "num_cols": num_cols,
        "cat_cols": cat_cols,
        "static_cols": static,
        "condition_col": condition_column,
    }
    return name, roles


class SDVSequentialSynthesizer:
    """CDMTSynthesizer behind SDV's sequential-synthesizer API.

    Build it with ``CDMTSynthesizer.from_sdv_metadata(metadata, **params)``.

    Parameters
    ----------
    metadata : sdv Metadata or dict
        The table's metadata (sequence key, sequence index, sdtypes).
    context_columns : list of str, optional
        Columns constant within a sequence (SDV's name for static columns).
    condition_column : str, optional
        A context column to condition on in ``sample_sequences(..., condition=...)``.
    synthesizer : CDMTSynthesizer
        The estimator doing the work (its hyper-parameters are yours to set).
    """

    def __init__(self, metadata, synthesizer, context_columns=None, condition_column=None):
        self.metadata = _metadata_dict(metadata)
        self.context_columns = context_columns
        self.condition_column = condition_column
        self.synthesizer = synthesizer
        self._table_name, self._roles = roles_from_sdv_metadata(
            self.metadata, context_columns, condition_column
        )
        self._input_key = None  # the dict key `fit` read the table from (sdv 2.x), if any

    def fit(self, data):
        """Fit on a DataFrame (sdv 1.x) or a ``{table_name: DataFrame}`` dict (sdv 2.x)."""
        frame = self._frame(data)
        self._input_key = next((k for k, v in data.items() if v is frame), None) if isinstance(
            data, dict
        ) else None
        self.synthesizer.fit(frame, **self._roles)
        return self

    def _frame(self, data) -> pd.DataFrame:
        if isinstance(data, pd.DataFrame):
            return data
        if isinstance(data, dict):
            if self._table_name is not None and self._table_name in data:
                return data[self._table_name]
            if len(data) == 1:
                (frame,) = data.values()
                return frame
            raise InvalidDataError(
                [f"the data dict has tables {sorted(data)}, expected {self._table_name!r}"]
            )
        raise InvalidDataError([f"data must be a DataFrame or a dict, got {type(data).__name__}"])

    def sample_sequences(self, num_sequences, sequence_length=None, **sample_kwargs):
        """Generate `num_sequences` sequences (patients), as SDV's sequential synthesizers do.

        Parameters
        ----------
        num_sequences : int
            Number of sequences (patients).
        sequence_length : int, optional
            Keep at most this many time steps per sequence (lengths are otherwise drawn from
            the model; cdmtehr cannot make a stay longer than the longest one it saw).
        **sample_kwargs
            Passed to ``CDMTSynthesizer.sample`` (``condition``, ``steps``, ``random_state``...).

        Returns
        -------
        DataFrame, or ``{table_name: DataFrame}`` when `fit` received a dict.
        """
        frame = self.synthesizer.sample(num_sequences, **sample_kwargs)
        if sequence_length is not None:
            if not isinstance(sequence_length, int) or sequence_length < 1:
                raise InvalidParameterError(
                    "The 'sequence_length' parameter of sample_sequences must be a positive int "
                    f"or None. Got {sequence_length!r} instead."
                )
            position = frame.groupby(self._roles["id_col"], sort=False).cumcount()
            frame = frame[position < sequence_length].reset_index(drop=True)
        if self._input_key is not None:
            return {self._input_key: frame}
        return frame

    def sample(self, num_sequences, sequence_length=None, **sample_kwargs):
        """Alias of `sample_sequences` (SDV's ``sample``)."""
        return self.sample_sequences(num_sequences, sequence_length, **sample_kwargs)

    def get_loss_values(self) -> pd.DataFrame:
        """Loss per epoch with SDV's column names ``Epoch`` and ``Loss``."""
        losses = self.synthesizer.get_loss_values()
        return losses.rename(columns={"epoch": "Epoch", "loss": "Loss"})[["Epoch", "Loss"]]

    def get_metadata(self) -> dict:
        """The metadata dict given at construction."""
        return self.metadata

    def save(self, path):
        """Save the underlying synthesizer (safe format; see ``CDMTSynthesizer.save``)."""
        self.synthesizer.save(path)
