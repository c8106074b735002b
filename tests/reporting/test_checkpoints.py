import json

import pandas as pd
import pytest

from stagewise.reporting.checkpoints import COLUMNS, checkpoints_markdown, checkpoints_table


def _per_query(values: dict) -> pd.DataFrame:
    """Tidy per-query metrics: (schedule, seed) -> the nDCG@10 of queries q1, q2 on test set t."""
    rows = [
        {"ranker": "bm25", "reranker": "electra", "schedule": cell, "seed": seed, "dataset": "t", "qid": f"q{i}"}
        | {"metric": "ndcg@10", "value": v}
        for (cell, seed), per_query in values.items()
        for i, v in enumerate(per_query)
    ]
    return pd.DataFrame(rows)


def _model(folder, selected, best, last):
    folder.mkdir(parents=True)
    selection = {"metric": "ndcg@10", "best_step": best[0], "best_value": best[1], "last_step": last[0]}
    selection |= {"last_value": last[1], "selected": selected}
    (folder / "hparams.json").write_text(json.dumps({"selection": selection}))
    return folder


def test_best_and_last_are_seed_means_whichever_checkpoint_was_selected(tmp_path):
    # C selects its best: the grid's run is the best; D selects its last: the grid's run is the last
    selected = _per_query({("C", "1"): [0.6, 0.8], ("C", "2"): [0.5, 0.5], ("D", "1"): [0.2, 0.4]})
    other = _per_query({("C", "1"): [0.4, 0.6], ("C", "2"): [0.5, 0.3], ("D", "1"): [0.3, 0.5]})
    models = {
        ("electra", "C", 1): _model(tmp_path / "C1", "best", (4, 0.7), (6, 0.6)),
        ("electra", "C", 2): _model(tmp_path / "C2", "best", (2, 0.5), (6, 0.3)),
        ("electra", "D", 1): _model(tmp_path / "D1", "last", (3, 0.9), (6, 0.8)),
    }
    frame = checkpoints_table(selected, other, models)
    assert list(frame.columns) == COLUMNS
    table = frame.set_index("schedule")
    assert table.loc["C", ["best", "last", "seeds"]].tolist() == pytest.approx([(0.7 + 0.5) / 2, (0.5 + 0.4) / 2, 2])
    assert table.loc["C", "best_minus_last"] == pytest.approx(0.6 - 0.45)
    assert table.loc["C", ["held_out_best", "held_out_last", "best_step"]].tolist() == pytest.approx([0.6, 0.45, 3])
    assert table.loc["D", ["best", "last"]].tolist() == pytest.approx([0.4, 0.3])
    md = checkpoints_markdown(frame, digits=2)
    assert "| bm25 | electra | C | t | ndcg@10 | 0.45 | 0.60 | +0.15 | 2 | ndcg@10 | 0.45 | 0.60 |" in md
