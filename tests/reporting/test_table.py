import pandas as pd
import pytest

from stagewise.reporting.table import main_table


def test_mean_and_std_over_seeds_with_first_stage_rows_first():
    rows = []
    for seed, shift in (("1", 0.0), ("2", 0.2)):
        for qid, v in (("q1", 0.4), ("q2", 0.6)):
            rows.append(("bm25", "electra", "C", seed, "dl", qid, "ndcg@10", v + shift))
    rows += [("bm25", "-", "-", "-", "dl", "q1", "ndcg@10", 0.3), ("bm25", "-", "-", "-", "dl", "q2", "ndcg@10", 0.5)]
    frame = pd.DataFrame(rows, columns=["ranker", "reranker", "schedule", "seed", "dataset", "qid", "metric", "value"])
    table = main_table(frame)
    assert list(table.columns) == ["ranker", "reranker", "schedule", "dataset", "n_seeds", "ndcg@10_mean", "ndcg@10_std"]
    assert table.iloc[0]["schedule"] == "-" and table.iloc[0]["ndcg@10_mean"] == pytest.approx(0.4)
    trained = table.iloc[1]
    assert trained["n_seeds"] == 2
    assert trained["ndcg@10_mean"] == pytest.approx(0.6)
    assert trained["ndcg@10_std"] == pytest.approx(pd.Series([0.5, 0.7]).std())
