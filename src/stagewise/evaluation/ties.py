"""Tied scores at the top of a run: how often the document id tie-break, not the model, orders what nDCG@10 sees.

A cross-encoder scoring in bf16 (the released code's scoring: the whole model under autocast) gives scores on a grid
of 0.0625 near logits of 8, so candidates of one query often score exactly alike; the evaluation then orders them by
document id (trec_eval's rule, see ``stagewise.evaluation.metrics``). Counted per run for the evaluation output.
"""

from __future__ import annotations

from collections import Counter

from ..io import Run, sorted_ranking

#: the ranks the count looks at: those of nDCG@10 and MRR@10
TIE_DEPTH = 10


def top_ties(run: Run, qids, depth: int = TIE_DEPTH) -> dict[str, int]:
    """Tied scores within each query's top-``depth``, over the queries ``qids`` (those the evaluation scores):

    * ``queries``: how many queries were looked at (a query of ``qids`` absent from the run has no ties);
    * ``queries_with_ties``: the queries whose top-``depth`` holds at least two entries with exactly equal scores;
    * ``tied_entries``: the top-``depth`` entries whose score equals that of another entry of the same query's
      top-``depth``, summed over queries (scores 4, 4, 2, 2, 2 at the top count 5).

    The top-``depth`` is taken in trec_eval's order (score, then document id, descending), and scores are compared
    exactly as the run gives them (a run file: as written, 6 decimals for ours). A tie between the entries at ranks
    ``depth`` and ``depth`` + 1 is not counted: the count is about the order within the top-``depth``."""
    counts = {"queries": 0, "queries_with_ties": 0, "tied_entries": 0}
    for qid in qids:
        top = sorted_ranking(run.get(qid, {}))[:depth]
        tied = sum(n for n in Counter(score for _, score in top).values() if n > 1)
        counts["queries"] += 1
        counts["queries_with_ties"] += tied > 0
        counts["tied_entries"] += tied
    return counts
