import math

import pytest

from stagewise.evaluation.metrics import per_query_metrics


def values(frame):
    return {(r.qid, r.metric): r.value for r in frame.itertuples()}


def test_ndcg_and_binary_metrics_by_hand():
    qrels = {"q1": {"a": 3, "b": 1, "c": 0, "z": 2}}
    run = {"q1": {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}}
    v = values(per_query_metrics(qrels, run, ["ndcg@10", "mrr@10", "map", "recall@100"], relevance_threshold=2))
    dcg = 3 / math.log2(2) + 1 / math.log2(3)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert v[("q1", "ndcg@10")] == pytest.approx(dcg / idcg, abs=1e-6)
    assert v[("q1", "mrr@10")] == 1.0  # 'a' (grade 3) is relevant at threshold 2
    assert v[("q1", "recall@100")] == 0.5  # 'z' (grade 2) was not retrieved; 'b' (grade 1) does not count
    assert v[("q1", "map")] == pytest.approx(0.5)


def test_tied_scores_give_the_same_metrics_whatever_the_input_order():
    qrels = {"q1": {"b": 2}}
    first = {"q1": {"a": 1.0, "b": 1.0, "c": 0.5}}
    second = {"q1": {"b": 1.0, "a": 1.0, "c": 0.5}}
    m1 = values(per_query_metrics(qrels, first, ["mrr@10"]))
    m2 = values(per_query_metrics(qrels, second, ["mrr@10"]))
    assert m1 == m2 == {("q1", "mrr@10"): 1.0}  # ties broken as trec_eval does (descending docid): b before a


def test_unjudged_queries_are_skipped_and_missing_run_queries_score_zero():
    qrels = {"q1": {"a": 2}, "q2": {"x": 3}}
    run = {"q1": {"a": 1.0}, "q3": {"a": 1.0}}
    v = values(per_query_metrics(qrels, run, ["ndcg@10"]))
    assert v == {("q1", "ndcg@10"): 1.0, ("q2", "ndcg@10"): 0.0}


def test_two_run_files_differing_only_in_the_order_of_tied_documents_evaluate_the_same(tmp_path):
    from stagewise.evaluation.metrics import Judgments, evaluate_runs

    qrels = {"q1": {"b": 2, "d": 3}, "q2": {"y": 1}}
    (tmp_path / "one.run").write_text(
        "q1 Q0 a 1 2.0 x\nq1 Q0 b 2 2.0 x\nq1 Q0 d 3 1.0 x\nq1 Q0 c 4 1.0 x\nq2 Q0 y 1 0.5 x\nq2 Q0 z 2 0.5 x\n"
    )
    (tmp_path / "two.run").write_text(
        "q2 Q0 z 1 0.5 x\nq2 Q0 y 2 0.5 x\nq1 Q0 c 1 1.0 x\nq1 Q0 b 2 2.0 x\nq1 Q0 d 3 1.0 x\nq1 Q0 a 4 2.0 x\n"
    )
    metrics = ["ndcg@10", "mrr@10", "map"]
    judgments = {"dl": Judgments(qrels, 2)}
    one = evaluate_runs({"dl": tmp_path / "one.run"}, judgments, {"ranker": "r"}, metrics, tmp_path / "one.tsv")
    two = evaluate_runs({"dl": tmp_path / "two.run"}, judgments, {"ranker": "r"}, metrics, tmp_path / "two.tsv")
    assert values(one) == values(two)
    assert (tmp_path / "one.tsv").read_text() == (tmp_path / "two.tsv").read_text()


def _devsmall_like(tmp_path):
    """MS MARCO dev/small's layout: qrels.dev.small.tsv is TAB-separated 'qid 0 docid 1', every grade 1."""
    from stagewise.io import read_qrels, read_run

    (tmp_path / "qrels.dev.small.tsv").write_text("1048585\t0\t7187158\t1\n2\t0\t4339068\t1\n2\t0\t4339071\t1\n")
    (tmp_path / "bm25.run").write_text(
        "1048585\tQ0\t7187155\t1\t19.5\tbm25\n1048585\tQ0\t7187158\t2\t19.0\tbm25\n"
        "2\tQ0\t4339071\t1\t12.25\tbm25\n2\tQ0\t11\t2\t11.0\tbm25\n2\tQ0\t4339068\t3\t10.0\tbm25\n"
    )
    return read_qrels(tmp_path / "qrels.dev.small.tsv"), tmp_path / "bm25.run", read_run(tmp_path / "bm25.run")


def test_binary_qrels_with_threshold_1_give_non_zero_binary_metrics(tmp_path):
    from stagewise.evaluation.metrics import Judgments, evaluate_cells

    qrels, path, _ = _devsmall_like(tmp_path)
    table = evaluate_cells(
        [({"ranker": "bm25"}, {"devsmall": path})],
        {"devsmall": Judgments(qrels, 1)},
        ["ndcg@10", "mrr@10", "map"],
        tmp_path / "m.tsv",
    )
    means = table.groupby("metric")["value"].mean()
    assert means["mrr@10"] == pytest.approx((1 / 2 + 1) / 2)
    assert means["map"] == pytest.approx((1 / 2 + (1 + 2 / 3) / 2) / 2)


def test_a_threshold_above_every_grade_stops_and_names_the_test_set(tmp_path):
    from stagewise.evaluation.metrics import Judgments, evaluate_cells

    qrels, path, run = _devsmall_like(tmp_path)
    with pytest.raises(ValueError, match=r"test set devsmall: relevance threshold 2 is above every grade .*highest: 1"):
        evaluate_cells(
            [({"ranker": "bm25"}, {"dl19": path, "devsmall": path})],
            {"dl19": Judgments({"q": {"d": 3}}, 2), "devsmall": Judgments(qrels, 2)},
            ["ndcg@10", "mrr@10"],
            tmp_path / "m.tsv",
        )
    assert not (tmp_path / "m.tsv").exists()
    # nDCG alone uses the grades as they are: no threshold involved, nothing to stop
    assert len(per_query_metrics(qrels, run, ["ndcg@10"], relevance_threshold=2)) == 2


def test_a_test_set_without_judgments_stops_naming_it(tmp_path):
    from stagewise.evaluation.metrics import Judgments, evaluate_cells

    (tmp_path / "r.run").write_text("q1 Q0 d1 1 1.0 t\n")
    with pytest.raises(ValueError, match=r"test set dl19: its qrels hold no judgments"):
        evaluate_cells(
            [({"ranker": "bm25"}, {"dl19": tmp_path / "r.run"})],
            {"dl19": Judgments({}, 2)},
            ["ndcg@10"],
            tmp_path / "m.tsv",
        )


def test_ir_measures_names_are_the_same_evaluation_as_ours():
    from stagewise.errors import EvaluationError

    qrels = {"q1": {"a": 3, "b": 1, "c": 0, "z": 2}, "q2": {"b": 2, "y": 1}}
    run = {"q1": {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}, "q2": {"a": 0.5, "y": 0.4, "b": 0.3}}
    ours = per_query_metrics(qrels, run, ["ndcg@10", "mrr@10", "map", "recall@100", "precision@10"], 2)
    theirs = per_query_metrics(qrels, run, ["nDCG@10", "RR(rel=2)@10", "AP", "R@100", "P@10"], 2)
    assert values(ours) == values(theirs) and len(values(ours)) == 10
    assert values(ours)[("q2", "mrr@10")] == pytest.approx(1 / 3)  # at threshold 2 only 'b' (rank 3) counts
    with pytest.raises(EvaluationError, match=r"RR\(rel=1\)@10 asks for relevance from grade 1, test set dl19 counts"):
        per_query_metrics(qrels, run, ["RR(rel=1)@10"], 2, name="dl19")


def test_config_metric_names_become_ours_and_a_rel_other_than_a_test_sets_threshold_stops():
    import yaml

    from stagewise.config import validate_config
    from stagewise.errors import ConfigError

    from ..conftest import ROOT

    def config(metrics, report=None, **test_sets):
        base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        base["evaluation"]["metrics"] = metrics
        base.setdefault("report", {})["metrics"] = report or [metrics[0]]
        if test_sets:
            base["test_sets"] = test_sets
        return validate_config(base)

    done = config(["nDCG@10", "RR(rel=2)@10", "AP", "R@100"], ["nDCG@10"])
    assert done["evaluation"]["metrics"] == ["ndcg@10", "mrr@10", "map", "recall@100"]
    assert done["report"]["metrics"] == ["ndcg@10"]
    with pytest.raises(
        ConfigError,
        match=r"'evaluation.metrics.1': RR\(rel=2\)@10 counts grades >= 2 as relevant, "
        r"but test set\(s\) dev count grades >= 1",
    ):
        config(["nDCG@10", "RR(rel=2)@10"], dev={"dataset": "local:x", "relevance_threshold": 1})
    with pytest.raises(ConfigError, match=r"'evaluation.metrics.1': nDCG@10 is ndcg@10, already listed"):
        config(["ndcg@10", "nDCG@10"])
    with pytest.raises(ConfigError, match=r"'evaluation.metrics.0': unknown metric 'MRR@10'"):
        config(["MRR@10"])


def test_qrels_without_a_positive_grade_stop_even_with_graded_metrics_only():
    from stagewise.errors import EvaluationError
    from stagewise.evaluation.metrics import per_query_metrics

    with pytest.raises(EvaluationError, match="test set nfc: every grade of its qrels is 0 or lower"):
        per_query_metrics({"q1": {"d1": 0, "d2": 0}}, {"q1": {"d1": 1.0}}, ["ndcg@10"], 1, name="nfc")
