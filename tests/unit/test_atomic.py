"""write_atomically: a file is replaced whole, or left as it was."""

import os

import pytest

from cdmtehr import _atomic
from cdmtehr._atomic import write_atomically


def test_the_file_is_replaced_by_what_was_written(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")
    write_atomically(path, lambda file: file.write(b"new"))
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_a_new_file_is_created(tmp_path):
    write_atomically(str(tmp_path / "fresh.bin"), lambda file: file.write(b"x"))
    assert (tmp_path / "fresh.bin").read_bytes() == b"x"


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_previous_file_whole_and_no_temporary(tmp_path, error):
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")

    def fail(file):
        file.write(b"half")
        raise error

    with pytest.raises(type(error)):
        write_atomically(path, fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_the_bytes_are_synced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(_atomic.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(
        _atomic.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))
    )
    write_atomically(tmp_path / "model.bin", lambda file: file.write(b"x"))
    assert events[:2] == ["fsync", "replace"]
