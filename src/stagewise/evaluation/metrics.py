"""Per-query effectiveness with ranx, under a fixed evaluation contract:

* ties in scores are broken by document id before evaluation, the way trec_eval does (descending id, as
  strings), so that our numbers equal trec_eval's, pytrec_eval's and ir-measures' on any run (ranx alone
  orders tied documents differently);
* binary metrics (MRR, MAP, recall, precision) count grades >= ``relevance_threshold`` as relevant
  (2 on TREC DL, 1 on the binary MS MARCO dev qrels; set per test set); nDCG uses the graded labels; a threshold
  above every grade of a set's qrels is an error (every binary metric would be 0 for every system);
* unjudged documents count as non-relevant; queries without judgments are not evaluated.
"""

from __future__ import annotations

import logging
import os
from typing import NamedTuple

import pandas as pd

from ..errors import EvaluationError
from ..io import Qrels, Run, atomic_path, read_run, sorted_ranking
from ..locations import NUMBA_CACHE
from .names import GRADED, IR_MEASURES, METRICS, canonical_metric  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


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


def check_relevance_threshold(qrels: Qrels, relevance_threshold: int, metrics, name: str = "the qrels"):
    """Stop when no grade of ``qrels`` is positive (every metric, graded ones too, would be 0) or binary metrics are
    asked for and no grade reaches the threshold."""
    binary = [m for m in metrics if canonical_metric(m)[0].split("@")[0] not in GRADED]
    top = max((g for docs in qrels.values() for g in docs.values()), default=None)
    if top is None:
        raise EvaluationError(
            f"test set {name}: its qrels hold no judgments, so every metric would be 0 for every system"
        )
    if top <= 0:
        raise EvaluationError(
            f"test set {name}: every grade of its qrels is {top} or lower (no relevant document), so "
            "every metric, graded ones too, would be 0 for every system"
        )
    if binary and (top is None or top < relevance_threshold):
        raise EvaluationError(
            f"test set {name}: relevance threshold {relevance_threshold} is above every grade of its "
            f"qrels (highest: {top}), so {', '.join(binary)} would be 0 for every system; set "
            f"test_sets.{name}.relevance_threshold (1 for binary qrels such as MS MARCO dev)"
        )


def check_run_covers(run: Run, qrels: Qrels, path, name: str):
    """Stop on a run that ranks no judged query of its test set (an empty file, another test set's run): every
    metric would be 0 for every query, which reads like a real result."""
    judged = {q for q, docs in qrels.items() if docs}
    if not judged & set(run):
        what = (
            "is empty"
            if not run
            else (
                f"ranks none of the {len(judged)} judged queries of test set {name} (its "
                f"queries: {', '.join(sorted(run)[:3])}{', ...' if len(run) > 3 else ''})"
            )
        )
        raise EvaluationError(f"{path}: the run {what}; every metric would be 0")
    # qrels of another corpus (an out-of-domain set's qrels against the wrong docs.tsv): not one judged document,
    # relevant or not, among everything the run ranks for the judged queries
    if not any(set(run.get(q, ())) & set(qrels[q]) for q in judged):
        example = next(iter(next(iter(qrels[q] for q in sorted(judged)))))
        raise EvaluationError(
            f"{path}: none of the documents the run ranks for the {len(judged)} judged queries of "
            f"test set {name} is judged in its qrels (e.g. {example!r}): do the qrels and the corpus "
            "use the same document ids? Every metric would be 0"
        )


def per_query_metrics(
    qrels: Qrels, run: Run, metrics, relevance_threshold: int = 2, depth: int | None = None, name: str = "the qrels"
):
    """DataFrame with columns qid, metric, value for every judged query (``name``: the test set, for errors)."""
    check_relevance_threshold(qrels, relevance_threshold, metrics, name)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(NUMBA_CACHE.resolve()))
    from ranx import Qrels as RQrels
    from ranx import Run as RRun
    from ranx import evaluate

    judged = {q: d for q, d in qrels.items() if d}
    r_qrels = RQrels(judged)
    ranked = _rank_scores({q: run.get(q, {}) for q in judged}, depth)
    r_run = RRun({q: (d if d else {"__none__": 0.0}) for q, d in ranked.items()})
    rows = []
    for given in metrics:
        metric, rel = canonical_metric(given)
        if rel is not None and rel != relevance_threshold:
            raise EvaluationError(
                f"metric {given} asks for relevance from grade {rel}, test set {name} counts "
                f"grades >= {relevance_threshold}"
            )
        key = ranx_metric(metric, relevance_threshold)
        evaluate(r_qrels, r_run, key, save_results_in_run=True)
        for qid, value in r_run.scores[key].items():
            rows.append((qid, metric, float(value)))
    return pd.DataFrame(rows, columns=["qid", "metric", "value"])


class Judgments(NamedTuple):
    """A test set's qrels and the lowest grade its binary metrics count as relevant."""

    qrels: Qrels
    relevance_threshold: int


def evaluate_runs(runs: dict, judgments: dict[str, Judgments], keys: dict, metrics, out_path, depth: int | None = None):
    """Evaluate one run per test set (``runs``: test set -> run file) into a tidy TSV with the grid ``keys``
    (ranker, reranker, schedule, seed) as columns."""
    return evaluate_cells([(keys, runs)], judgments, metrics, out_path, depth)


def evaluate_cells(cells, judgments: dict[str, Judgments], metrics, out_path, depth: int | None = None, ties_path=None):
    """Evaluate many runs in one pass: ``cells`` holds (keys, {test set: run file}) pairs, every test set of
    ``judgments`` in each; one tidy TSV with the keys as leading columns, then the test set. ``ties_path``: also a
    TSV with one row per run, the keys, the test set and its tied scores within the top 10 of the evaluated queries
    (``stagewise.evaluation.ties.top_ties``)."""
    from .ties import TIE_DEPTH, top_ties

    for dataset, (qrels, threshold) in judgments.items():  # before any run is read
        check_relevance_threshold(qrels, threshold, metrics, dataset)
    frames, ties = [], []
    for keys, runs in cells:
        if set(runs) != set(judgments):
            raise ValueError(f"runs of {keys} for the test sets {sorted(runs)}, judgments for {sorted(judgments)}")
        for dataset, (qrels, threshold) in judgments.items():
            path = runs[dataset]
            run = read_run(path)
            check_run_covers(run, qrels, path, dataset)
            frame = per_query_metrics(qrels, run, metrics, threshold, depth, dataset)
            frame.insert(0, "dataset", dataset)
            for i, (key, value) in enumerate(keys.items()):
                frame.insert(i, key, value)
            frames.append(frame)
            if ties_path is not None:
                counted = top_ties(run, [q for q, judged in qrels.items() if judged], TIE_DEPTH)
                ties.append({**keys, "dataset": dataset, **counted})
                if counted["queries_with_ties"]:
                    log.info(
                        "%s: %d of %d queries hold tied scores in their top %d (%d entries)",
                        path,
                        counted["queries_with_ties"],
                        counted["queries"],
                        TIE_DEPTH,
                        counted["tied_entries"],
                    )
    table = pd.concat(frames, ignore_index=True)
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    if ties_path is not None:
        with atomic_path(ties_path) as tmp:
            pd.DataFrame(ties).to_csv(tmp, sep="\t", index=False)
    return table
