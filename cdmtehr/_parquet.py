"""Streaming generated patients into a parquet file, one row group at a time (needs pyarrow)."""

from __future__ import annotations

from pathlib import Path

from ._parameters import Interval, check_parameters
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


def sample_to_parquet(self, n, path, *, chunk_size=None, condition=None, steps=50,
                      sampler="euler", guidance_scale=1.0, random_state=None):
    """Stream `n` synthetic patients into a parquet file with memory flat in `n`.

    Patients are generated `sample_batch_size` at a time and written in row groups of about
    `chunk_size` patients, so millions of patients fit in the memory of one chunk. With the
    same `random_state` the file holds the same patients as ``sample(n)``.

    Parameters
    ----------
    n : int
        Number of patients.
    path : str or path-like
        Parquet file to write (needs pyarrow).
    chunk_size : int, optional
        Patients per written row group; by default `sample_batch_size` (decoded patients
        take tens of kB each until written, so larger groups cost memory).
    condition, steps, sampler, guidance_scale, random_state
        As in `sample`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import pyarrow  # noqa: F401  (fail before any work when it is missing)

    chunks = self._start_sampling("sample_to_parquet", n, condition, steps, sampler,
                                  guidance_scale, random_state)
    chunk_size = self.sample_batch_size if chunk_size is None else chunk_size
    check_parameters({"chunk_size": chunk_size}, {"chunk_size": Interval("int", 1)},
                     "CDMTSynthesizer.sample_to_parquet")

    def to_frame(cohort, id_start):
        return self.preprocessor_.inverse_transform(cohort, id_start=id_start)

    return write_parquet(chunks, path, group_size=chunk_size, to_frame=to_frame)
