"""Streaming generated patients into a parquet file, one row group at a time (needs pyarrow)."""

from __future__ import annotations

from pathlib import Path

from .preprocessing import EncodedCohort


def write_parquet(chunks, path, *, group_size: int, to_frame) -> Path:
    """Write generated cohorts to `path` in row groups of about `group_size` patients.

    Chunks are gathered until they hold `group_size` patients, decoded and written, so memory
    holds one row group at most.

    Parameters
    ----------
    chunks : iterable of EncodedCohort
        The generated patients, in order.
    path : str or path-like
        The parquet file to write.
    group_size : int
        Patients per row group (the last one may hold fewer).
    to_frame : callable
        ``to_frame(cohort, id_start) -> DataFrame``: the long frame of a cohort whose patients
        are numbered from `id_start`.

    Returns
    -------
    pathlib.Path
        The written file (none is written when `chunks` is empty).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    pending, written, writer = [], 0, None

    def flush():
        nonlocal pending, written, writer
        cohort = EncodedCohort.concat(pending)
        table = pa.Table.from_pandas(to_frame(cohort, written), preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table.cast(writer.schema))
        written += cohort.n_patients
        pending = []

    try:
        for chunk in chunks:
            pending.append(chunk)
            if sum(c.n_patients for c in pending) >= group_size:
                flush()
        if pending:
            flush()
    finally:
        if writer is not None:
            writer.close()
    return path
