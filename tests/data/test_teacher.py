"""Teacher files in the layout RankGPT released them (marco-train-100k.jsonl + marco-train-100k-gpt3.5.json):
made-up ids and texts, the real field names, the real separators and the real kinds of malformed strings."""

import json

import pytest

from stagewise.data.teacher import parse_permutation, read_teacher, simulated_teacher, write_teacher
from stagewise.errors import InputFormatError


def rankgpt_line(qid, n=20, ranks=None):
    """One line of marco-train-100k.jsonl: query_id, query, positive_passages, retrieved_passages with text."""
    ranks = ranks or list(range(1, n + 1))
    return {
        "query_id": qid,
        "query": f"what is the meaning of query {qid}",
        "positive_passages": [{"docid": f"{qid}00", "title": "", "text": "a relevant passage"}],
        "retrieved_passages": [
            {"docid": f"{qid}{r:02d}", "title": "", "text": f"passage text {r}", "rank": r, "score": 20.5 - r}
            for r in ranks
        ],
    }


def write_rankgpt(folder, permutations, qids=None):
    """The candidates file (one JSON object a line) and the permutations (one JSON list, as json.dump writes it)."""
    qids = qids or [str(1000 + i) for i in range(len(permutations))]
    (folder / "marco-train-100k.jsonl").write_text("".join(json.dumps(rankgpt_line(q)) + "\n" for q in qids))
    (folder / "marco-train-100k-gpt3.5.json").write_text(json.dumps(permutations))
    return folder / "marco-train-100k.jsonl", folder / "marco-train-100k-gpt3.5.json"


def perm(ids):
    return " > ".join(f"[{i}]" for i in ids)


GOOD = perm([5, 18, 14, 1, 15, 3, 4, 13, 7, 6, 12, 9, 10, 11, 16, 2, 19, 20, 8, 17])  # the release's example


def test_real_layout_maps_each_id_to_the_passage_of_that_rank(tmp_path):
    # the candidates line lists its passages out of rank order: [i] is the passage whose rank is i
    line = rankgpt_line("1185869", ranks=[3, 1, 2, *range(4, 21)])
    (tmp_path / "c.jsonl").write_text(json.dumps(line) + "\n")
    (tmp_path / "p.json").write_text(json.dumps([GOOD]))
    teacher = read_teacher(tmp_path / "c.jsonl", tmp_path / "p.json", ranking_size=20)
    ranking = teacher.rankings["1185869"]
    assert ranking[:4] == ["118586905", "118586918", "118586914", "118586901"] and len(ranking) == 20
    assert teacher.queries["1185869"] == "what is the meaning of query 1185869"


def test_parse_permutation_follows_the_released_rule():
    assert parse_permutation("[2] > [3] > [1]", 3) == [2, 3, 1]
    assert parse_permutation("[2] > [2] > [1]", 3) == [2, 2, 1]  # repeats pass the rule
    for bad, reason in [
        ("[2] > [3] > [1].", "not_integer"),
        ("[2]>[3]>[1]", "not_integer"),
        ("[2] > [3]", "wrong_length"),
        ("I cannot rank these.", "not_integer"),
    ]:
        with pytest.raises(ValueError) as e:
            parse_permutation(bad, 3)
        assert e.value.reason == reason


def test_kept_dropped_and_repeated_are_counted_per_reason(tmp_path, caplog):
    permutations = [
        GOOD,
        GOOD[:-1] + "].",  # "... > [17]." : not an integer
        perm(range(1, 20)),  # 19 ids
        perm([*range(1, 20), 21]),  # names rank 21 of a 20-passage line
        perm([1, 2, 1, *range(4, 21)]),  # 20 ids, 1 repeated (3 left out)
        "I cannot rank these passages without more context.",
        perm(range(20, 0, -1)),
    ]
    c, p = write_rankgpt(tmp_path, permutations)
    with caplog.at_level("INFO"):
        teacher = read_teacher(c, p, ranking_size=20, malformed="drop", repeated="keep")
    assert teacher.counts == {
        "permutations": 7,
        "kept": 3,
        "not_integer": 2,
        "wrong_length": 1,
        "out_of_range": 1,
        "repeated": 1,
        "duplicate_query": 0,
    }
    assert sorted(teacher.rankings) == ["1000", "1004", "1006"]
    # the repeated id keeps its first place; the passage the string leaves out (rank 3) is not in the ranking
    assert teacher.rankings["1004"][:3] == ["100401", "100402", "100404"] and len(teacher.rankings["1004"]) == 19
    assert (
        "3 of 7 permutations kept, 4 dropped (2 with a token that is not an integer, 1 without exactly 20 ids, "
        "1 naming a passage the candidates line lacks); 1 with a repeated id kept" in caplog.text
    )
    dropping = read_teacher(c, p, ranking_size=20, malformed="drop", repeated="drop")
    assert sorted(dropping.rankings) == ["1000", "1006"] and dropping.counts["repeated"] == 1


def test_malformed_error_names_file_line_and_entry(tmp_path):
    c, p = write_rankgpt(tmp_path, [GOOD, perm(range(1, 20))])
    p.write_text("[\n" + ",\n".join(json.dumps(x) for x in [GOOD, perm(range(1, 20))]) + "\n]\n")
    with pytest.raises(InputFormatError, match=r"gpt3\.5\.json:3: entry 2 \(query 1001\): .* lists 19 ids, 20"):
        read_teacher(c, p, ranking_size=20, malformed="error")


def test_our_older_layout_with_qid_is_still_read(tmp_path):
    line = {"qid": "q1", "query": "x", "retrieved_passages": [{"docid": "a", "rank": 1}, {"docid": "b", "rank": 2}]}
    (tmp_path / "c.jsonl").write_text(json.dumps(line) + "\n")
    (tmp_path / "p.json").write_text('["[2] > [1]"]')
    assert read_teacher(tmp_path / "c.jsonl", tmp_path / "p.json", ranking_size=None).rankings == {"q1": ["b", "a"]}


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"query_id": "1", "retrieved_passages": [{"docid": "a"}]}', r"no 'rank' field"),
        ('{"query": "x", "retrieved_passages": []}', r"no 'qid' field; expected query_id or qid"),
        (
            '{"query_id": "1", "retrieved_passages": [{"docid": "a", "rank": 1}, {"docid": "b", "rank": 1}]}',
            "rank 1 appears twice",
        ),
        ("{not json", "not a candidates entry"),
    ],
)
def test_malformed_candidates_line_is_named(tmp_path, line, message):
    good = json.dumps(rankgpt_line("7"))
    (tmp_path / "c.jsonl").write_text(good + "\n" + line + "\n")
    (tmp_path / "p.json").write_text(json.dumps([GOOD, GOOD]))
    with pytest.raises(InputFormatError, match=rf"c\.jsonl:2: .*{message}"):
        read_teacher(tmp_path / "c.jsonl", tmp_path / "p.json")


def test_permutations_must_align_with_the_candidates(tmp_path):
    c, p = write_rankgpt(tmp_path, [GOOD, GOOD])
    p.write_text(json.dumps([GOOD]))
    with pytest.raises(InputFormatError, match=r"expected a JSON list of 2 permutation strings.*found 1 entries"):
        read_teacher(c, p)


def test_simulated_teacher_writes_the_real_layout_and_round_trips(tmp_path):
    run = {"q1": {f"d{i}": 10.0 - i for i in range(5)}}
    qrels = {"q1": {"d4": 3, "d3": 2}}
    candidates, permutations = simulated_teacher(run, qrels, {"q1": "some query"}, depth=5, noise=0.0, seed=0)
    assert set(candidates[0]) == {"query_id", "query", "positive_passages", "retrieved_passages"}
    write_teacher(candidates, permutations, tmp_path / "c.jsonl", tmp_path / "p.json")
    ranking = read_teacher(tmp_path / "c.jsonl", tmp_path / "p.json", ranking_size=5).rankings["q1"]
    assert ranking[:2] == ["d4", "d3"]  # without noise the teacher puts the true grades first
    assert sorted(ranking) == [f"d{i}" for i in range(5)]


def test_labels_from_a_20_passage_ranking_are_21_minus_rank(tmp_path):
    from stagewise.training.losses import teacher_ranking_to_labels

    c, p = write_rankgpt(tmp_path, [perm([3, 1, 2, *range(4, 21)])])
    labels = teacher_ranking_to_labels(read_teacher(c, p, ranking_size=20).rankings["1000"], 20)
    assert labels["100003"] == 20 and labels["100001"] == 19 and labels["100002"] == 18 and labels["100020"] == 1


def test_a_teacher_run_ranks_by_score_and_keeps_its_top_k(tmp_path):
    from stagewise.data.teacher import read_teacher_run

    (tmp_path / "t.run").write_text("q1 Q0 a 1 1.0 t\nq1 Q0 b 2 3.0 t\nq1 Q0 c 3 2.0 t\n")
    assert read_teacher_run(tmp_path / "t.run", depth=2).rankings == {"q1": ["b", "c"]}


def test_md5_mismatch_names_the_file_and_both_sums(tmp_path):
    import hashlib

    from stagewise.data.teacher import check_md5

    path = tmp_path / "p.json"
    path.write_text("[]")
    check_md5(path, hashlib.md5(b"[]").hexdigest())
    with pytest.raises(InputFormatError, match=r"p\.json: md5 is [0-9a-f]{32}, the config expects 0{32}"):
        check_md5(path, "0" * 32)


def test_teacher_files_with_latin_1_bytes_stop_at_their_line(tmp_path):
    from stagewise.data.teacher import read_teacher
    from stagewise.errors import InputFormatError

    candidates = tmp_path / "candidates.jsonl"
    candidates.write_bytes(b'{"query_id": "1", "query": "caf\xe9", "retrieved_passages": []}\n')
    (tmp_path / "permutations.txt").write_text("[1] > [2]\n")
    with pytest.raises(InputFormatError, match=r"candidates.jsonl:1: is not UTF-8 text"):
        read_teacher(candidates, tmp_path / "permutations.txt")


def test_a_scored_teacher_run_keeps_its_top_k_with_the_teachers_scores(tmp_path):
    from stagewise.data.teacher import read_teacher_run

    (tmp_path / "t.run").write_text("q1 Q0 a 1 1.0 t\nq1 Q0 b 2 3.5 t\nq1 Q0 c 3 -2.25 t\nq2\tQ0\tx\t1\t0.5\tt\n")
    teacher = read_teacher_run(tmp_path / "t.run", depth=2)
    assert teacher.rankings == {"q1": ["b", "a"], "q2": ["x"]}
    assert teacher.scores == {"q1": {"b": 3.5, "a": 1.0}, "q2": {"x": 0.5}} and teacher.positives == {}


#: triples in the layout of bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv (Hofstaetter et al., 2020):
#: pos_score neg_score qid pid_pos pid_neg, tab-separated, no header; made-up ids and scores
ENSEMBLE_TRIPLES = (
    "7.8125\t-2.40625\t1185869\t5678\t7012\n"
    "7.8125\t1.5\t1185869\t5678\t4033\n"
    "3.25\t-2.40625\t1185869\t91\t7012\n"  # a second positive of the same query
    "-0.5\t2.125\t400296\t18\t2201\n"
)  # the teacher scores the negative above the positive


def test_triples_in_the_cross_encoder_ensemble_layout_give_positives_and_scores_per_query(tmp_path, caplog):
    from stagewise.data.teacher import read_teacher_triples

    path = tmp_path / "bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv"
    path.write_text(ENSEMBLE_TRIPLES + "7.5\t0.0\t1185869\t5678\t12\n")  # 5678 again, with another score
    with caplog.at_level("INFO"):
        teacher = read_teacher_triples(path)
    assert teacher.positives == {"1185869": ["5678", "91"], "400296": ["18"]}
    assert teacher.scores == {
        "1185869": {"5678": 7.8125, "7012": -2.40625, "4033": 1.5, "91": 3.25, "12": 0.0},
        "400296": {"18": -0.5, "2201": 2.125},
    }
    assert teacher.rankings == {"1185869": ["5678", "91", "4033", "12", "7012"], "400296": ["2201", "18"]}
    assert teacher.counts == {"triples": 5, "differing_scores": 1, "kept": 2}
    assert "5 triples of 2 queries, 7 passages" in caplog.text
    assert "1 times a triple gives a passage another score" in caplog.text


@pytest.mark.parametrize(
    "line, message",
    [
        ("7.8125\t-2.40625\t1185869\t5678", r"expected 5 columns 'pos_score neg_score qid pid_pos pid_neg'.*got 4"),
        ("7,8125\t-2.40625\t1185869\t5678\t7012", r"pos_score '7,8125' or neg_score '-2.40625' is not a number"),
        ("nan\t1.0\t1185869\t5678\t7012", r"pos_score 'nan' or neg_score '1.0' is not finite"),
    ],
)
def test_a_malformed_triple_stops_with_file_and_line(tmp_path, line, message):
    from stagewise.data.teacher import read_teacher_triples

    path = tmp_path / "triples.tsv"
    path.write_text(ENSEMBLE_TRIPLES + line + "\n")
    with pytest.raises(InputFormatError, match=rf"triples\.tsv:5: {message}"):
        read_teacher_triples(path)


def test_triples_with_the_ids_first_stop_at_the_first_line(tmp_path):
    from stagewise.data.teacher import read_teacher_triples

    # qid pid_pos pid_neg pos_score neg_score: numeric ids would parse as scores and the scores as ids
    path = tmp_path / "triples.tsv"
    path.write_text("1185869\t5678\t7012\t7.8125\t-2.40625\n")
    with pytest.raises(InputFormatError, match=r"triples\.tsv:1: .*ids where the scores belong"):
        read_teacher_triples(path)


def test_the_simulated_teacher_files_are_unchanged_and_its_scores_rank_as_its_permutations(tmp_path):
    import hashlib

    from stagewise.data.teacher import read_teacher_run, simulated_teacher_scores
    from stagewise.io import write_run

    run = {f"q{q}": {f"d{q}{i}": float(10 - i) + 0.1 * q for i in range(8)} for q in range(1, 4)}
    run["q9"] = {"d90": 1.0}  # one passage: no teacher ranking
    qrels = {"q1": {"d13": 2, "d15": 1}, "q2": {"d20": 1}, "q3": {}}
    candidates, permutations = simulated_teacher(run, qrels, {q: f"query {q}" for q in run}, 6, 0.7, 5)
    write_teacher(candidates, permutations, tmp_path / "c.jsonl", tmp_path / "p.json")
    # the bytes the demo teacher wrote before it also gave scores (computed with the code of 69ed706)
    written = (tmp_path / "c.jsonl").read_bytes() + (tmp_path / "p.json").read_bytes()
    assert hashlib.sha256(written).hexdigest() == "2bf646eebbc58e815a717f72460e9bab5e46088e0ec3266ca14cfccca47420a5"
    write_run(simulated_teacher_scores(run, qrels, 6, 0.7, 5), tmp_path / "scores.run", tag="simulated_teacher")
    scored = read_teacher_run(tmp_path / "scores.run", depth=6)
    ranked = read_teacher(tmp_path / "c.jsonl", tmp_path / "p.json", ranking_size=6)
    assert scored.rankings == ranked.rankings and sorted(scored.rankings) == ["q1", "q2", "q3"]
    assert sorted(scored.scores["q1"].values(), reverse=True)[0] > 1.0  # noisy grades, not ranks
