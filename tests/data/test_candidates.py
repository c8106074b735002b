"""The training candidates store, from a run in the layout of Rank-DistiLLM's ColBERTv2 training run."""

import numpy as np
import pytest

from stagewise.data.candidates import Candidates, build_candidates
from stagewise.errors import InputFormatError
from stagewise.io import read_run_by_rank


def colbert_run(path, qids, n=12):
    """TAB-separated 'qid 0 docid rank score ColBERT', fp16-like scores that tie from rank 4 on."""
    lines = [f"{q}\t0\t{q}{r:03d}\t{r}\t{22.0 - r if r <= 3 else 19.0}\tColBERT" for q in qids for r in range(1, n + 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_store_round_trips_the_pools_of_the_rank_column_and_the_positives(tmp_path):
    run = colbert_run(tmp_path / "__colbert__msmarco-passage-train-judged.run", ["1185869", "1185868", "42"])
    qrels = {"1185869": {"1185869005": 1, "7": 0}, "42": {"42011": 2, "999": 1}}
    meta = build_candidates(run, qrels, tmp_path / "store", depth=5, queries={"1185869", "42"})
    assert (meta["queries"], meta["skipped_queries"], meta["lines"]) == (2, 1, 36)
    store = Candidates.open(tmp_path / "store")
    assert isinstance(store.arrays["pool"], np.memmap)
    assert store.qids.tolist() == ["1185869", "42"]
    expected = read_run_by_rank(run, depth=5)
    for i, qid in enumerate(store.qids.tolist()):
        assert store.pool(i) == expected[qid] == [f"{qid}{r:03d}" for r in range(1, 6)]
    assert store.judged(0) == {"1185869005": 1}  # grade-0 judgments are not positives
    assert store.judged(1) == {"42011": 2, "999": 1}  # a positive outside the pool is kept (positive_policy add)


def test_a_run_that_does_not_list_each_query_together_is_refused_with_the_line(tmp_path):
    path = tmp_path / "train.run"
    path.write_text("q1 0 a 1 2.0 t\nq2 0 b 1 2.0 t\nq1 0 c 2 1.0 t\n")
    with pytest.raises(InputFormatError, match=r"train\.run:3: query 'q1' appears again after other queries"):
        build_candidates(path, {}, tmp_path / "store", depth=5)
    assert not (tmp_path / "store").exists()


def test_in_memory_candidates_match_the_store(tmp_path):
    run = colbert_run(tmp_path / "r.run", ["q1", "q2"])
    qrels = {"q1": {"q1003": 1}}
    build_candidates(run, qrels, tmp_path / "store", depth=4)
    stored, memory = Candidates.open(tmp_path / "store"), Candidates.from_rankings(read_run_by_rank(run, 4), qrels)
    assert [stored.pool(i) for i in range(2)] == [memory.pool(i) for i in range(2)]
    assert [stored.judged(i) for i in range(2)] == [memory.judged(i) for i in range(2)]


def _replace_keeping_size_and_date(path, old: str, new: str):
    """What ``cp -p`` or ``rsync -a`` of another file of the same size does: other bytes, the same size and date."""
    import os

    stat = path.stat()
    content = path.read_text()
    assert len(old) == len(new) and old in content
    path.write_text(content.replace(old, new, 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_training_run_replaced_with_the_same_size_and_date_is_noticed(tmp_path):
    run = tmp_path / "train.run"
    run.write_text("".join(f"q1 Q0 d{i} {i} {10 - i}.0 x\n" for i in range(1, 6)))
    build_candidates(run, {"q1": {"d1": 1}}, tmp_path / "store", depth=5)
    assert Candidates.open(tmp_path / "store", source=run).pool(0)[:2] == ["d1", "d2"]
    _replace_keeping_size_and_date(run, "q1 Q0 d2", "q1 Q0 d7")
    with pytest.raises(
        InputFormatError,
        match=r"train.run: is not the file .*store was built from \(its sample_sha256 "
        r"changed\); delete .*store so that it is rebuilt",
    ):
        Candidates.open(tmp_path / "store", source=run)
