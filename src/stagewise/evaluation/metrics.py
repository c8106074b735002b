"""Per-query effectiveness with ranx, under a fixed evaluation contract:

* ties in scores are broken by document id before evaluation, the way trec_eval does (descending id, as
  strings), so that our numbers equal trec_eval's, pytrec_eval's and ir-measures' on any run (ranx alone
  orders tied documents differently);
* binary metrics (MRR, MAP, recall, precision) count grades >= ``relevance_threshold`` as relevant
  (2 on TREC DL); nDCG uses the graded labels;
* unjudged documents count as non-relevant; queries without judgments are not evaluated.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..io import Qrels, Run, atomic_path, read_run, sorted_ranking

GRADED = {"ndcg"}


def ranx_metric(name: str, relevance_threshold: int) -> str:
    base = name.split("@")[0]
    return name if base in GRADED else f"{name}-l{relevance_threshold}"


def _rank_scores(run: Run, depth: int | None) -> Run:
    """Replace scores by strictly decreasing values in trec_eval's order (score desc, docid desc)."""
    out = {}
    for qid, docs in run.items():
        ranking = sorted_ranking(docs)[:depth] if depth else sorted_ranking(docs)
        out[qid] = {docid: float(len(ranking) - i) for i, (docid, _) in enumerate(ranking)}
    return out


def per_query_metrics(qrels: Qrels, run: Run, metrics, relevance_threshold: int = 2, depth: int | None = None):
    """DataFrame with columns qid, metric, value for every judged query."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path("resources/cache/numba").resolve()))
    from ranx import Qrels as RQrels
    from ranx import Run as RRun
    from ranx import evaluate

    judged = {q: d for q, d in qrels.items() if d}
    r_qrels = RQrels(judged)
    ranked = _rank_scores({q: run.get(q, {}) for q in judged}, depth)
    r_run = RRun({q: (d if d else {"__none__": 0.0}) for q, d in ranked.items()})
    rows = []
    for name in metrics:
        key = ranx_metric(name, relevance_threshold)
        evaluate(r_qrels, r_run, key, save_results_in_run=True)
        for qid, value in r_run.scores[key].items():
            rows.append((qid, name, float(value)))
    return pd.DataFrame(rows, columns=["qid", "metric", "value"])


def evaluate_runs(run_paths, qrels_by_dataset: dict[str, Qrels], out_path, keys: dict, metrics,
                  relevance_threshold: int = 2, depth: int | None = None):
    """Evaluate one run per dataset (same order as ``qrels_by_dataset``) into a tidy TSV with the grid
    ``keys`` (ranker, reranker, schedule, seed) as columns."""
    return evaluate_cells([(keys, run_paths)], qrels_by_dataset, out_path, metrics, relevance_threshold, depth)


def evaluate_cells(cells, qrels_by_dataset: dict[str, Qrels], out_path, metrics, relevance_threshold: int = 2,
                   depth: int | None = None):
    """Evaluate many grid cells in one pass: ``cells`` holds (keys, run paths in the order of
    ``qrels_by_dataset``) pairs; one tidy TSV with the keys as leading columns."""
    frames = []
    for keys, run_paths in cells:
        for path, (dataset, qrels) in zip(run_paths, qrels_by_dataset.items(), strict=True):
            frame = per_query_metrics(qrels, read_run(path), metrics, relevance_threshold, depth)
            frame.insert(0, "dataset", dataset)
            for i, (key, value) in enumerate(keys.items()):
                frame.insert(i, key, value)
            frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return table
