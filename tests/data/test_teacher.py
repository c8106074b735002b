import json

import pytest

from stagewise.data.teacher import parse_permutation, read_teacher, simulated_teacher, write_teacher
from stagewise.errors import InputFormatError


def test_parse_permutation():
    assert parse_permutation("[2] > [3] > [1]", 3) == [1, 2, 0]
    with pytest.raises(ValueError):
        parse_permutation("[2] > [2] > [1]", 3)


def test_simulated_teacher_round_trip_and_quality(tmp_path):
    run = {"q1": {f"d{i}": 10.0 - i for i in range(5)}}
    qrels = {"q1": {"d4": 3, "d3": 2}}
    candidates, permutations = simulated_teacher(run, qrels, {"q1": "some query"}, depth=5, noise=0.0, seed=0)
    write_teacher(candidates, permutations, tmp_path / "c.jsonl", tmp_path / "p.json")
    ranking = read_teacher(tmp_path / "c.jsonl", tmp_path / "p.json")["q1"]
    assert ranking[:2] == ["d4", "d3"]  # without noise the teacher puts the true grades first
    assert sorted(ranking) == [f"d{i}" for i in range(5)]


def test_malformed_permutation_names_file_and_line(tmp_path):
    cand = {"qid": "q1", "query": "x", "retrieved_passages": [{"docid": "a", "rank": 1}, {"docid": "b", "rank": 2}]}
    (tmp_path / "c.jsonl").write_text(json.dumps(cand) + "\n" + json.dumps({**cand, "qid": "q2"}) + "\n")
    (tmp_path / "p.json").write_text('[\n"[1] > [2]",\n"[1] > [1]"\n]\n')
    with pytest.raises(InputFormatError, match=r"p\.json:3: entry 2 \(query q2\)"):
        read_teacher(tmp_path / "c.jsonl", tmp_path / "p.json")


def test_malformed_candidates_line_is_named(tmp_path):
    (tmp_path / "c.jsonl").write_text('{"qid": "q1", "retrieved_passages": []}\n{not json\n')
    (tmp_path / "p.json").write_text("[]")
    with pytest.raises(InputFormatError, match=r"c\.jsonl:2: not a candidates entry"):
        read_teacher(tmp_path / "c.jsonl", tmp_path / "p.json")
