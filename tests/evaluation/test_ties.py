import pandas as pd

from stagewise.evaluation.ties import top_ties


def test_tied_scores_are_counted_within_each_querys_top_10():
    run = {
        # 4, 4 and 2, 2, 2 tie in the top 10 (5 entries); 0.1 at rank 10 ties only with rank 11: not counted
        "q1": {f"d{i}": s for i, s in enumerate([5.0, 4.0, 4.0, 3.0, 2.0, 2.0, 2.0, 1.0, 0.5, 0.1, 0.1])},
        "q2": {f"d{i}": float(i) for i in range(20)},  # no ties
        "q3": {"a": 7.0625, "b": 7.0625, "c": 7.0625},  # three passages, one bf16 value
        "unjudged": {"a": 1.0, "b": 1.0},  # not evaluated: not counted
    }
    assert top_ties(run, ["q1", "q2", "q3", "absent"]) == {"queries": 4, "queries_with_ties": 2, "tied_entries": 8}
    assert top_ties(run, ["q1"], depth=3) == {"queries": 1, "queries_with_ties": 1, "tied_entries": 2}


def test_the_evaluation_writes_the_tie_count_of_every_run(tmp_path):
    from stagewise.evaluation.metrics import Judgments, evaluate_cells

    qrels = {"q1": {"a": 2}, "q2": {"b": 1}, "q3": {}}
    (tmp_path / "bf16.run").write_text(
        "q1 Q0 a 1 8.062500 x\nq1 Q0 b 2 8.062500 x\nq1 Q0 c 3 7.000000 x\n"
        "q2 Q0 b 1 3.000000 x\nq2 Q0 a 2 2.000000 x\nq3 Q0 a 1 1.0 x\nq3 Q0 b 2 1.0 x\n"
    )
    (tmp_path / "fp32.run").write_text(
        "q1 Q0 a 1 8.071234 x\nq1 Q0 b 2 8.062500 x\nq1 Q0 c 3 7.000000 x\nq2 Q0 b 1 3.000000 x\nq2 Q0 a 2 2.000000 x\n"
    )
    cells = [
        ({"ranker": "bm25", "reranker": "electra", "schedule": "C", "seed": head}, {"dl19": tmp_path / f"{head}.run"})
        for head in ("bf16", "fp32")
    ]
    evaluate_cells(
        cells, {"dl19": Judgments(qrels, 2)}, ["ndcg@10"], tmp_path / "m.tsv", ties_path=tmp_path / "ties.tsv"
    )
    ties = pd.read_csv(tmp_path / "ties.tsv", sep="\t", dtype={"seed": str})
    assert ties.to_dict("records") == [
        # q3 has no judgments: like the metrics, the count leaves it out
        {
            "ranker": "bm25",
            "reranker": "electra",
            "schedule": "C",
            "seed": "bf16",
            "dataset": "dl19",
            "queries": 2,
            "queries_with_ties": 1,
            "tied_entries": 2,
        },
        {
            "ranker": "bm25",
            "reranker": "electra",
            "schedule": "C",
            "seed": "fp32",
            "dataset": "dl19",
            "queries": 2,
            "queries_with_ties": 0,
            "tied_entries": 0,
        },
    ]
