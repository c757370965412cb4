"""write_parquet: generated chunks go to row groups of about `group_size` patients, in order."""

import numpy as np
import pandas as pd
import pytest
from helpers.encoded import make_cohort

pq = pytest.importorskip("pyarrow.parquet")

from cdmtehr._parquet import write_parquet  # noqa: E402
from cdmtehr.preprocessing import EncodedCohort  # noqa: E402


def to_frame(cohort, id_start):
    """One row per patient: its number and its stay length."""
    return pd.DataFrame({
        "id": np.arange(id_start, id_start + cohort.n_patients),
        "length": cohort.lengths.astype("int64"),
        "first_value": cohort.numeric[:, 0, 0].astype("float64"),
    })


def test_chunks_are_gathered_into_row_groups_in_order(tmp_path):
    chunks = [make_cohort(n=3, seed=seed) for seed in range(3)]
    path = write_parquet(iter(chunks), tmp_path / "out.parquet", group_size=4,
                         to_frame=to_frame)
    assert path == tmp_path / "out.parquet"
    file = pq.ParquetFile(path)
    # 3 < 4 patients wait for the next chunk; 6 are written; the last 3 at the end.
    assert [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)] == [6, 3]
    written = file.read().to_pandas()
    expected = to_frame(EncodedCohort.concat(chunks), 0)
    pd.testing.assert_frame_equal(written, expected)


def test_one_chunk_per_group_when_chunks_are_large_enough(tmp_path):
    chunks = [make_cohort(n=n, seed=n) for n in (2, 5, 1)]
    path = write_parquet(chunks, str(tmp_path / "out.parquet"), group_size=2,
                         to_frame=to_frame)
    file = pq.ParquetFile(path)
    assert [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)] == [2, 5, 1]
    assert file.read().column("id").to_pylist() == list(range(8))


def test_later_groups_are_cast_to_the_first_groups_schema(tmp_path):
    def drifting(cohort, id_start):
        frame = to_frame(cohort, id_start)
        return frame.astype({"id": "int32"}) if id_start else frame

    path = write_parquet([make_cohort(n=2), make_cohort(n=2, seed=1)], tmp_path / "a.parquet",
                         group_size=2, to_frame=drifting)
    table = pq.read_table(path)
    assert str(table.schema.field("id").type) == "int64"
    assert table.column("id").to_pylist() == [0, 1, 2, 3]


def test_no_chunks_write_no_file(tmp_path):
    path = write_parquet(iter([]), tmp_path / "none.parquet", group_size=3, to_frame=to_frame)
    assert path == tmp_path / "none.parquet" and not path.exists()


def test_a_failing_chunk_leaves_the_groups_written_so_far_readable(tmp_path):
    def chunks():
        yield make_cohort(n=2)
        raise RuntimeError("generation failed")

    path = tmp_path / "partial.parquet"
    with pytest.raises(RuntimeError, match="generation failed"):
        write_parquet(chunks(), path, group_size=2, to_frame=to_frame)
    assert pq.read_table(path).column("id").to_pylist() == [0, 1]
