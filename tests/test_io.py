import pytest

from stagewise.errors import InputFormatError
from stagewise.io import atomic_path, read_qrels, read_run, write_qrels, write_run


def test_run_round_trip_breaks_ties_by_docid_as_trec_eval_does(tmp_path):
    run = {"q1": {"a": 1.0, "b": 1.0, "c": 2.5, "b10": 1.0}, "q2": {"x": -1.0}}
    write_run(run, tmp_path / "r.run", tag="t")
    lines = (tmp_path / "r.run").read_text().splitlines()
    # trec_eval: descending score, then descending docid compared as strings ("b10" > "b" > "a")
    assert lines[:4] == ["q1 Q0 c 1 2.500000 t", "q1 Q0 b10 2 1.000000 t", "q1 Q0 b 3 1.000000 t",
                         "q1 Q0 a 4 1.000000 t"]
    assert read_run(tmp_path / "r.run") == run


def test_qrels_round_trip(tmp_path):
    qrels = {"q1": {"d1": 3, "d2": 0}, "q2": {"d9": 1}}
    write_qrels(qrels, tmp_path / "q.txt")
    assert read_qrels(tmp_path / "q.txt") == qrels


def test_malformed_run_names_file_and_line(tmp_path):
    path = tmp_path / "bad.run"
    path.write_text("q1 Q0 d1 1 1.0 t\nq1 Q0 d2 2 oops t\n")
    with pytest.raises(InputFormatError, match=r"bad\.run:2: .*not a number"):
        read_run(path)


def test_malformed_qrels_names_file_and_line(tmp_path):
    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 d1 1\nq1 0 d2\n")
    with pytest.raises(InputFormatError, match=r"qrels\.txt:2: expected 4 columns"):
        read_qrels(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputFormatError, match="nope.run: file not found"):
        read_run(tmp_path / "nope.run")


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("job died")
    assert list(tmp_path.iterdir()) == []
