"""Metric names: ours (ranx-like, ``ndcg@10``) and ir_measures' (``nDCG@10``), without importing the evaluation."""

from __future__ import annotations

import re

GRADED = {"ndcg"}
#: the metrics evaluation knows (the config schema's evaluation.metrics description lists the same)
METRICS = ("ndcg@1", "ndcg@5", "ndcg@10", "ndcg@20", "mrr@10", "map", "recall@100", "recall@1000", "precision@10")


#: ir_measures' measure names -> ours (nDCG@10 -> ndcg@10, RR(rel=2)@10 -> mrr@10 at threshold 2, AP -> map, ...)
IR_MEASURES = {"nDCG": "ndcg", "RR": "mrr", "AP": "map", "R": "recall", "P": "precision"}
_IR_MEASURES_NAME = re.compile(r"(nDCG|RR|AP|R|P)(?:\(rel=(\d+)\))?(?:@(\d+))?")


def canonical_metric(name: str) -> tuple[str, int | None]:
    """(our name, the relevance threshold the name asks for or None) of a metric named our way (``ndcg@10``,
    ``mrr@10``, ``map``) or ir_measures' way (``nDCG@10``, ``RR(rel=2)@10``, ``AP(rel=2)``, ``R@100``, ``P@10``).
    Both name the same evaluation; a name evaluation does not compute is a ValueError listing those it does."""
    if name in METRICS:
        return name, None
    match = _IR_MEASURES_NAME.fullmatch(name)
    known = ", ".join(METRICS)
    if not match:
        raise ValueError(
            f"unknown metric {name!r}: use one of {known} (or their ir_measures names: nDCG@10, RR@10, "
            "AP, R@100, P@10, with (rel=N) on the binary ones)"
        )
    base, rel, cut = match.groups()
    ours = IR_MEASURES[base] + (f"@{cut}" if cut else "")
    if ours not in METRICS:
        raise ValueError(f"metric {name!r} is {ours}, which evaluation does not compute (it computes {known})")
    if rel is not None and IR_MEASURES[base] in GRADED:
        raise ValueError(f"metric {name!r}: nDCG uses the graded labels, it takes no rel=")
    return ours, int(rel) if rel is not None else None
