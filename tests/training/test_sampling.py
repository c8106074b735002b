import pytest

from stagewise.training.sampling import ContrastiveGroups, StepBatchSampler, split_validation

TEXTS = {d: f"text of {d}" for d in ["p1", "p2", "n1", "n2", "n3", "n4", "x"]}
QUERIES = {"found": "q found", "missing": "q missing", "none": "q none"}
QRELS = {"found": {"p1": 2, "n1": 0}, "missing": {"p2": 2}, "none": {"n2": 0}}
RUN = {"found": {"p1": 4.0, "n1": 3.0, "n2": 2.0, "n3": 1.0},       # its positive is retrieved
       "missing": {"n1": 4.0, "n2": 3.0, "n3": 2.0, "n4": 1.0},     # its positive p2 is not
       "none": {"n1": 1.0, "n2": 0.5}}                              # no positive at all


def groups(policy):
    return ContrastiveGroups(QUERIES, QRELS, RUN, TEXTS, n_negatives=2, depth=4, min_positive_grade=1, seed=0,
                             positive_policy=policy)


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
