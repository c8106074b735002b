import pandas as pd

COLUMNS = ["ranker", "reranker", "schedule", "seed", "dataset", "qid", "metric", "value"]


def fixed_grid():
    """Two rankers, one reranker, two schedules, two seeds, two queries: small enough to check by hand."""
    rows = []
    for ranker, base in (("bm25", 0.30), ("colbert", 0.40)):
        for qid, q in (("q1", 0.0), ("q2", 0.1)):
            rows.append((ranker, "-", "-", "-", "dl19", qid, "ndcg@10", base + q))
            for schedule, gain in (("C", 0.20), ("C-D", 0.25)):
                for seed, s in (("1", 0.0), ("2", 0.02)):
                    rows.append((ranker, "electra", schedule, seed, "dl19", qid, "ndcg@10", base + q + gain + s))
    return pd.DataFrame(rows, columns=COLUMNS)


def fixed_significance():
    """Hand-made test results: C-D beats C and the first stage under bm25; C beats the first stage under colbert."""
    rows = [
        ("bm25", "electra", "dl19", "ndcg@10", "C", "C-D", -0.05, True),
        ("bm25", "electra", "dl19", "ndcg@10", "C-D", "-", 0.26, True),
        ("bm25", "electra", "dl19", "ndcg@10", "C", "-", 0.21, False),
        ("colbert", "electra", "dl19", "ndcg@10", "C", "-", 0.21, True),
    ]
    return pd.DataFrame(
        rows, columns=["ranker", "reranker", "dataset", "metric", "system_a", "system_b", "difference", "significant"]
    )
