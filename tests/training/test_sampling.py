import numpy as np
import pytest

from stagewise.training.sampling import StepBatchSampler, split_validation

from .adapters import contrastive

TEXTS = {d: f"text of {d}" for d in ["p1", "p2", "n1", "n2", "n3", "n4", "x"]}
QUERIES = {"found": "q found", "missing": "q missing", "none": "q none"}
QRELS = {"found": {"p1": 2, "n1": 0}, "missing": {"p2": 2}, "none": {"n2": 0}}
RUN = {
    "found": {"p1": 4.0, "n1": 3.0, "n2": 2.0, "n3": 1.0},  # its positive is retrieved
    "missing": {"n1": 4.0, "n2": 3.0, "n3": 2.0, "n4": 1.0},  # its positive p2 is not
    "none": {"n1": 1.0, "n2": 0.5},
}  # no positive at all


def groups(policy):
    return contrastive(
        QUERIES, QRELS, RUN, TEXTS, negatives=2, negatives_depth=4, min_positive_grade=1, seed=0, positive_policy=policy
    )


def test_add_inserts_the_qrels_positive():
    data = groups("add")
    assert data.policy_counts == {"retrieved": 1, "added": 1, "dropped": 0, "kept": 0, "no_positive": 1}
    assert [g.passages[0] for g in (data[0], data[1])] == ["text of p1", "text of p2"]
    assert all(g.labels == [1.0, 0.0, 0.0] for g in (data[0], data[1]))
    assert "text of p2" not in data[0].passages[1:]  # negatives never include a judged positive


def test_drop_skips_queries_without_a_retrieved_positive():
    data = groups("drop")
    assert len(data) == 1 and data[0].query == "q found"
    assert data.policy_counts["dropped"] == 1


def test_keep_makes_an_arbitrary_retrieved_passage_the_target():
    data = groups("keep")
    assert len(data) == 2 and data.policy_counts["kept"] == 1
    kept = data[1]
    assert kept.query == "q missing" and kept.passages[0] in {f"text of n{i}" for i in range(1, 5)}
    assert "text of p2" not in kept.passages


def test_unknown_policy_is_rejected():
    with pytest.raises(ValueError, match="positive_policy"):
        groups("insert")


def test_batches_are_a_function_of_the_step():
    sampler = StepBatchSampler(range(10), batch_size=4, seed=3)
    batches = [b for b, _ in zip(sampler, range(7))]
    assert [len(b) for b in batches[:3]] == [4, 4, 2]  # epoch 0: 10 items in 3 batches
    assert sorted(i for b in batches[:3] for _, i in b) == list(range(10))
    assert {e for b in batches[3:6] for e, _ in b} == {1}  # then epoch 1, reshuffled
    resumed = StepBatchSampler(range(10), batch_size=4, seed=3, start=4)
    assert next(iter(resumed)) == batches[4]


def test_validation_split_is_seeded_and_disjoint():
    train, val = split_validation(200, 0.01, seed=5)
    assert len(val) == 2 and not set(train) & set(val) and len(train) == 198
    assert split_validation(200, 0.01, seed=5) == (train, val)
    assert split_validation(200, 0.01, seed=6)[1] != val
    assert split_validation(10, 0.0, seed=5) == (list(range(10)), [])


def test_the_release_split_equals_scikit_learns_train_test_split():
    from sklearn.model_selection import train_test_split

    from stagewise.training.sampling import train_test_split_ids

    rng = np.random.default_rng(3)
    for n, test_size, random_state in ((1000, 0.01, 42), (907, 0.01, 42), (5031, 0.1, 7), (12, 0.25, 0)):
        # query ids in a file's order: neither sorted nor of one length, as the MS MARCO training run lists them
        ids = [str(q) for q in rng.choice(1_200_000, size=n, replace=False)]
        expected = train_test_split(ids, test_size=test_size, random_state=random_state)
        assert list(train_test_split_ids(ids, test_size, random_state)) == [list(part) for part in expected]
        # as numpy arrays too (the release split pandas' unique() of its first column)
        expected = train_test_split(np.asarray(ids), test_size=test_size, random_state=random_state)
        assert list(train_test_split_ids(ids, test_size, random_state)) == [part.tolist() for part in expected]


def test_the_release_split_holds_out_the_queries_of_the_file_order_split_among_the_training_groups():
    from sklearn.model_selection import train_test_split

    from stagewise.training.sampling import split_validation, split_validation_by_query

    file_ids = [f"q{i}" for i in (7, 3, 9, 1, 8, 2, 6, 0, 5, 4)] + [f"q{i}" for i in range(210, 10, -1)]
    held = set(train_test_split(file_ids, test_size=0.05, random_state=42)[1])
    groups = sorted(file_ids)[5:]  # the training groups: in query id order, some queries without one
    train, val = split_validation_by_query(groups, file_ids, 0.05, 42)
    assert [groups[i] for i in val] == [q for q in groups if q in held]
    assert sorted(train + val) == list(range(len(groups)))
    # another order of the same ids holds out other queries: the file's order is part of the split
    assert split_validation_by_query(groups, sorted(file_ids), 0.05, 42)[1] != val
    # and so does our own split of the same fraction and seed
    assert split_validation(len(groups), 0.05, 42)[1] != val
    assert split_validation_by_query(groups, file_ids, 0.0, 42) == (list(range(len(groups))), [])


def test_training_groups_know_their_file_order(tmp_path):
    from stagewise.data.candidates import Candidates, build_candidates
    from stagewise.data.teacher import read_teacher
    from stagewise.training.sampling import DistillationGroups

    from ..data.test_teacher import GOOD, write_rankgpt

    run = tmp_path / "train.run"
    run.write_text(
        "".join(f"{q}\t0\td{q}{r}\t{r}\t{10.0 - r}\tColBERT\n" for q in ("30", "4", "100") for r in (1, 2, 3))
    )
    qrels = {q: {f"d{q}1": 1} for q in ("30", "4", "100")}
    build_candidates(run, qrels, tmp_path / "store", depth=3)
    texts = {f"d{q}{r}": "t" for q in ("30", "4", "100") for r in (1, 2, 3)}
    c = contrastive(
        {q: "q" for q in qrels},
        qrels,
        Candidates.open(tmp_path / "store"),
        texts,
        negatives=1,
        negatives_depth=3,
        min_positive_grade=1,
    )
    assert c.file_query_ids == ["30", "4", "100"] and c.query_ids == ["100", "30", "4"]

    candidates, permutations = write_rankgpt(tmp_path, [GOOD, "[1] > [2]", GOOD], qids=["77", "5", "123"])
    teacher = read_teacher(candidates, permutations)  # the second string is malformed: dropped, as the release did
    d = DistillationGroups(teacher.queries, teacher.rankings, {}, 20, 0, ranking_size=20)
    assert d.file_query_ids == ["77", "123"] and d.query_ids == ["123", "77"]


def test_scored_groups_carry_the_teachers_scores_as_labels(tmp_path):
    from stagewise.data.teacher import read_teacher_run, read_teacher_triples
    from stagewise.training.sampling import DistillationGroups, ScoredDistillationGroups

    from ..data.test_teacher import ENSEMBLE_TRIPLES

    texts = {d: f"text of {d}" for d in ["5678", "91", "4033", "7012", "18", "2201", "a", "b", "c"]}
    queries = {"1185869": "q one", "400296": "q two", "q1": "q three"}
    # from triples: one of the query's positives first, then up to group_size - 1 of its other passages by score
    (tmp_path / "triples.tsv").write_text(ENSEMBLE_TRIPLES)
    triples = ScoredDistillationGroups(queries, read_teacher_triples(tmp_path / "triples.tsv"), texts, 3, seed=0)
    assert triples.query_ids == ["1185869", "400296"]
    firsts = set()
    for epoch in range(8):
        group = triples[(epoch, 0)]
        firsts.add(group.passages[0])
        assert group.passages[0] in ("text of 5678", "text of 91") and len(group.passages) == 3
        scores = {"text of 5678": 7.8125, "text of 91": 3.25, "text of 4033": 1.5, "text of 7012": -2.40625}
        assert group.labels == [scores[p] for p in group.passages]
        assert group.labels[1] >= group.labels[2]
    assert firsts == {"text of 5678", "text of 91"}  # each positive has its epochs
    # the teacher scores this query's negative above its positive: the positive stays first
    assert triples[1] == triples[(0, 1)] and triples[1].passages == ["text of 18", "text of 2201"]
    assert triples[1].labels == [-0.5, 2.125]
    # from a run: the top passages in the teacher's order, their scores as labels; as ranks: 4 - rank
    (tmp_path / "t.run").write_text("q1 Q0 a 1 2.5 t\nq1 Q0 b 2 -1.25 t\nq1 Q0 c 3 0.0 t\n")
    run = ScoredDistillationGroups(queries, read_teacher_run(tmp_path / "t.run", depth=3), texts, 20, seed=0)
    assert run[0].passages == ["text of a", "text of c", "text of b"] and run[0].labels == [2.5, 0.0, -1.25]
    ranks = DistillationGroups(queries, read_teacher_run(tmp_path / "t.run", depth=3).rankings, texts, 20, 0)
    assert ranks[0].passages == run[0].passages and ranks[0].labels == [3.0, 2.0, 1.0]
