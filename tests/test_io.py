"""Atomic outputs: what a killed writer leaves behind is removed by the next writer of the same output."""

import pytest

from stagewise.io import atomic_path, remove_stale_temporaries


def test_a_killed_writers_temporary_is_removed_by_the_next_writer_and_others_are_kept(tmp_path):
    out = tmp_path / "main.csv"
    stale = tmp_path / ".main.csv.abc123.tmp"  # as atomic_path names it; SIGKILL left it (63 MB in the report)
    stale.mkdir()
    (stale / "out.csv").write_text("partial")
    other = tmp_path / ".efficiency.csv.xyz.tmp"  # another output's: not ours to remove
    other.mkdir()
    with atomic_path(out, suffix=".csv") as tmp:
        tmp.write_text("a,b\n")
    assert out.read_text() == "a,b\n" and not stale.exists() and other.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".main.csv")] == []


def test_staging_folders_are_removed_only_when_asked(tmp_path):
    index = tmp_path / "index"
    staging = tmp_path / ".index.q1w2.staging"
    staging.mkdir()
    assert remove_stale_temporaries(index) == 0 and staging.exists()
    assert remove_stale_temporaries(index, ("tmp", "staging")) == 1 and not staging.exists()


def test_a_failed_block_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
