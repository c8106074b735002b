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


def _rankgpt(tmp_path, permutations, n=20):
    lines = []
    for q in range(len(permutations)):
        passages = [{"docid": f"q{q}d{i}", "rank": i + 1} for i in range(n)]
        lines.append(json.dumps({"qid": f"q{q}", "query": "x", "retrieved_passages": passages}))
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "p.json").write_text(json.dumps(permutations, indent=0))
    return tmp_path / "c.jsonl", tmp_path / "p.json"


@pytest.mark.parametrize("bad", [
    " > ".join(f"[{i}]" for i in range(1, 20)),                  # 19 ids
    " > ".join(f"[{i}]" for i in [1, *range(1, 20)]),            # 20 ids, one repeated
    " > ".join(f"[{i}]" for i in range(2, 22)),                  # an id out of range
    "I cannot rank these passages.",                             # no ids at all
])
def test_malformed_permutations_are_dropped_and_counted(tmp_path, caplog, bad):
    good = " > ".join(f"[{i}]" for i in range(20, 0, -1))
    candidates, permutations = _rankgpt(tmp_path, [good, bad, good])
    with caplog.at_level("WARNING"):
        rankings = read_teacher(candidates, permutations, ranking_size=20, malformed="drop")
    assert sorted(rankings) == ["q0", "q2"]
    assert rankings["q0"][0] == "q0d19" and len(rankings["q0"]) == 20
    assert "dropped 1 of 3 permutations" in caplog.text
    with pytest.raises(InputFormatError, match=r"p\.json:\d+: entry 2 \(query q1\)"):
        read_teacher(candidates, permutations, ranking_size=20, malformed="error")


def test_labels_from_a_20_passage_ranking_are_21_minus_rank(tmp_path):
    from stagewise.training.losses import teacher_ranking_to_labels

    good = " > ".join(f"[{i}]" for i in [3, 1, 2, *range(4, 21)])
    rankings = read_teacher(*_rankgpt(tmp_path, [good]), ranking_size=20, malformed="drop")
    labels = teacher_ranking_to_labels(rankings["q0"], 20)
    assert labels["q0d2"] == 20 and labels["q0d0"] == 19 and labels["q0d1"] == 18 and labels["q0d19"] == 1


def test_a_teacher_run_ranks_by_score_and_keeps_its_top_k(tmp_path):
    from stagewise.data.teacher import read_teacher_run

    (tmp_path / "t.run").write_text("q1 Q0 a 1 1.0 t\nq1 Q0 b 2 3.0 t\nq1 Q0 c 3 2.0 t\n")
    assert read_teacher_run(tmp_path / "t.run", depth=2) == {"q1": ["b", "c"]}


def test_md5_mismatch_names_the_file_and_both_sums(tmp_path):
    import hashlib

    from stagewise.data.teacher import check_md5

    path = tmp_path / "p.json"
    path.write_text("[]")
    check_md5(path, hashlib.md5(b"[]").hexdigest())
    with pytest.raises(InputFormatError, match=r"p\.json: md5 is [0-9a-f]{32}, the config expects 0{32}"):
        check_md5(path, "0" * 32)
