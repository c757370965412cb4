"""Streaming generated patients into a parquet file, one row group at a time (needs pyarrow):
`write_parquet`, and `sample_to_parquet`, the function behind the estimator's method."""

from __future__ import annotations

from pathlib import Path

from ._parameters import Interval, check_parameters
from .completion import sample_chunks
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


def sample_to_parquet(synth, n, path, *, chunk_size, condition, steps, sampler, guidance_scale,
                      random_state):
    """`CDMTSynthesizer.sample_to_parquet` of a fitted `synth` (see its docstring)."""
    import pyarrow  # noqa: F401  (fail before any work when it is missing)

    owner = "CDMTSynthesizer.sample_to_parquet"
    chunks = sample_chunks(synth, n, condition=condition, steps=steps, sampler=sampler,
                           guidance_scale=guidance_scale, random_state=random_state,
                           owner=owner)
    chunk_size = synth.sample_batch_size if chunk_size is None else chunk_size
    check_parameters({"chunk_size": chunk_size}, {"chunk_size": Interval("int", 1)}, owner)

    def to_frame(cohort, id_start):
        return synth.preprocessor_.inverse_transform(cohort, id_start=id_start)

    return write_parquet(chunks, path, group_size=chunk_size, to_frame=to_frame)
