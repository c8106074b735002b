"""Statements about the grid checked against the significance tests: results/tables/claims.csv and claims.md.

A claim (the config's ``claims:``) names two systems, a metric and what it expects of the first against the second:

* ``better`` / ``worse``: holds when the comparison's outcome is that (significant, beyond the margin); fails when
  the outcome is the opposite, equivalent or negligible; inconclusive when the test cannot tell;
* ``on_par``: holds when the outcome is equivalent or negligible (within the margin: "two stages are on par with
  one"); fails when it is better or worse; inconclusive otherwise (a comparison without a margin can only be that);
* ``not_better`` / ``not_worse``: holds when the outcome rules the other direction out (worse, equivalent or
  negligible for not_better); fails when it is better (worse); inconclusive otherwise.

Each claim is checked for every ranker, reranker and test set. A system named by its schedule where the grid runs
that schedule only as stage-2 sweep cells (paper.yaml's C-D_lr1e-08, C-D_lr1e-05) is checked for each cell. A claim
about a system the grid does not run (a config merged over the demo's with ``schedules: [C]``), or a metric it does
not evaluate, gets one row with the verdict ``not checked``.
"""

from __future__ import annotations

import pandas as pd

from ..grid import schedule_of
from .significance import FIRST_STAGE

EXPECTATIONS = ("better", "worse", "on_par", "not_better", "not_worse")
_FLIP = {"better": "worse", "worse": "better"}
_HOLDS = {
    "better": {"better"},
    "worse": {"worse"},
    "on_par": {"equivalent", "negligible"},
    "not_better": {"worse", "equivalent", "negligible"},
    "not_worse": {"better", "equivalent", "negligible"},
}
_FAILS = {
    "better": {"worse", "equivalent", "negligible"},
    "worse": {"better", "equivalent", "negligible"},
    "on_par": {"better", "worse"},
    "not_better": {"better"},
    "not_worse": {"worse"},
}
COLUMNS = [
    "claim",
    "a",
    "b",
    "expect",
    "metric",
    "ranker",
    "reranker",
    "dataset",
    "outcome",
    "verdict",
    "difference",
    "difference_low",
    "difference_high",
    "margin",
    "p_corrected",
    "p_equivalence_corrected",
    "n_queries",
]


def verdict(expect: str, outcome: str) -> str:
    """holds / fails / inconclusive of a claim whose comparison ended in ``outcome`` (a against b)."""
    if expect not in EXPECTATIONS:
        raise ValueError(f"a claim expects one of {EXPECTATIONS}, not {expect!r}")
    if outcome in _HOLDS[expect]:
        return "holds"
    return "fails" if outcome in _FAILS[expect] else "inconclusive"


def _cells(system: str, cells: list[str]) -> list[str]:
    if system == FIRST_STAGE or system in cells:
        return [system]
    return [c for c in cells if schedule_of(c) == system] or [system]


def check_claims(claims: list[dict], significance: pd.DataFrame, cells: list[str]) -> pd.DataFrame:
    """One row per claim, (a, b) cell pair, ranker, reranker and test set. ``cells``: the grid's schedule axis."""
    rows = []
    for claim in claims:
        absent = [s for s in (claim["a"], claim["b"]) if s != FIRST_STAGE and _cells(s, cells)[0] not in cells]
        if absent or claim["metric"] not in set(significance["metric"]):
            why = f"{', '.join(absent)} not in the grid" if absent else f"{claim['metric']} not evaluated"
            rows.append(
                {
                    **dict.fromkeys(COLUMNS, float("nan")),
                    "claim": claim["name"],
                    "a": claim["a"],
                    "b": claim["b"],
                    "expect": claim["expect"],
                    "metric": claim["metric"],
                    "outcome": why,
                    "verdict": "not checked",
                }
            )
            continue
        for a in _cells(claim["a"], cells):
            for b in _cells(claim["b"], cells):
                forward = significance[(significance["system_a"] == a) & (significance["system_b"] == b)]
                backward = significance[(significance["system_a"] == b) & (significance["system_b"] == a)]
                for found, flipped in ((forward, False), (backward, True)):
                    for r in found[found["metric"] == claim["metric"]].itertuples():
                        outcome = _FLIP.get(r.outcome, r.outcome) if flipped else r.outcome
                        sign = -1 if flipped else 1
                        low, high = sorted((sign * r.difference_low, sign * r.difference_high))
                        rows.append(
                            {
                                "claim": claim["name"],
                                "a": a,
                                "b": b,
                                "expect": claim["expect"],
                                "metric": claim["metric"],
                                "ranker": r.ranker,
                                "reranker": r.reranker,
                                "dataset": r.dataset,
                                "outcome": outcome,
                                "verdict": verdict(claim["expect"], outcome),
                                "difference": sign * r.difference,
                                "difference_low": low,
                                "difference_high": high,
                                "margin": r.margin,
                                "p_corrected": r.p_corrected,
                                "p_equivalence_corrected": r.p_equivalence_corrected,
                                "n_queries": r.n_queries,
                            }
                        )
    return pd.DataFrame(rows, columns=COLUMNS)


def claims_markdown(checked: pd.DataFrame) -> str:
    """Per claim: how many (ranker, reranker, test set) cells it holds, fails or is inconclusive in, and the table."""
    if checked.empty:
        return "No claim matched a comparison of the grid.\n"
    out = []
    for name, group in checked.groupby("claim", sort=False):
        counts = group["verdict"].value_counts()
        out.append(f"### {name}\n")
        if counts.get("not checked"):
            out.append(f"Not checked: {group['outcome'].iloc[0]}.\n")
            continue
        out.append(
            f"{group['a'].iloc[0]} against {group['b'].iloc[0]} ({group['expect'].iloc[0]}, "
            f"{group['metric'].iloc[0]}): holds in {counts.get('holds', 0)}, fails in {counts.get('fails', 0)}, "
            f"inconclusive in {counts.get('inconclusive', 0)} of {len(group)}.\n"
        )
        out.append("| a | b | ranker | reranker | test set | difference | 90% interval | outcome | verdict |")
        out.append("|---|---|---|---|---|---:|---|---|---|")
        for r in group.itertuples():
            out.append(
                f"| {r.a} | {r.b} | {r.ranker} | {r.reranker} | {r.dataset} | {r.difference:+.4f} | "
                f"[{r.difference_low:+.4f}, {r.difference_high:+.4f}] | {r.outcome} | {r.verdict} |"
            )
        out.append("")
    out.append(
        "Verdicts from the corrected tests of significance.csv: better/worse need a significant difference "
        "beyond the margin, on_par an equivalent or negligible one (TOST within the margin), not_better/"
        "not_worse rule the other direction out; inconclusive: the test cannot tell."
    )
    return "\n".join(out) + "\n"
