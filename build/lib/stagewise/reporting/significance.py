"""Seed statistics and significance tests between schedules, on per-query scores.

Tests and corrections come from scipy and statsmodels: the paired t-test is ``scipy.stats.ttest_rel``,
the randomization test ``scipy.stats.permutation_test`` (paired, seeded), the corrections
``statsmodels.stats.multitest.multipletests``. Effect size: Cohen's d of the paired differences
(mean difference / standard deviation of the differences).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

GRID = ["ranker", "reranker", "schedule", "dataset"]
FIRST_STAGE = "-"
TESTS = ("ttest", "permutation")
CORRECTIONS = {"holm": "holm", "bonferroni": "bonferroni", "none": None}


def seed_means(per_query: pd.DataFrame) -> pd.DataFrame:
    """Mean over queries for every (grid cell, seed, metric)."""
    return per_query.groupby(GRID + ["seed", "metric"], as_index=False, sort=False)["value"].mean()


def aggregate(per_query: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per (cell, metric): n_seeds, mean, std over seeds (0 with one seed) and a t confidence interval
    for the mean over seeds (the mean itself with one seed)."""
    means = seed_means(per_query)
    rows = []
    for key, group in means.groupby(GRID + ["metric"], sort=False):
        values = group["value"].to_numpy(dtype=float)
        n, mean = len(values), float(values.mean())
        std = float(values.std(ddof=1)) if n > 1 else 0.0
        if n > 1 and std > 0:
            low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=std / np.sqrt(n))
        else:
            low = high = mean
        rows.append((*key, n, mean, std, float(low), float(high)))
    return pd.DataFrame(rows, columns=GRID + ["metric", "n_seeds", "mean", "std", "ci_low", "ci_high"])


def per_query_over_seeds(per_query: pd.DataFrame) -> pd.DataFrame:
    """Per-query scores averaged over seeds: (cell, metric, qid) -> value."""
    return per_query.groupby(GRID + ["metric", "qid"], as_index=False, sort=False)["value"].mean()


def paired_test(a: np.ndarray, b: np.ndarray, test: str = "ttest", permutations: int = 10000, seed: int = 0):
    """(statistic, two-sided p-value) of a paired test of a against b."""
    if test == "ttest":
        if np.allclose(a - b, 0):
            return 0.0, 1.0  # identical systems: scipy would return nan
        result = stats.ttest_rel(a, b)
        return float(result.statistic), float(result.pvalue)
    if test == "permutation":
        result = stats.permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), vectorized=True,
                                        permutation_type="samples",
                                        n_resamples=permutations, alternative="two-sided",
                                        random_state=np.random.default_rng(seed))
        return float(result.statistic), float(result.pvalue)
    raise ValueError(f"test must be one of {TESTS}, not {test!r}")


def effect_size(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d for paired samples: mean(a - b) / std(a - b)."""
    diff = a - b
    sd = diff.std(ddof=1) if len(diff) > 1 else 0.0
    return float(diff.mean() / sd) if sd > 0 else 0.0


def compare(per_query: pd.DataFrame, test: str = "ttest", correction: str = "holm", alpha: float = 0.05,
            permutations: int = 10000, seed: int = 0) -> pd.DataFrame:
    """Every pair of schedules, and every schedule against the first stage, within each (ranker, reranker,
    test set, metric): one family of comparisons, corrected together."""
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {sorted(CORRECTIONS)}, not {correction!r}")
    scores = per_query_over_seeds(per_query)
    first = scores[scores["schedule"] == FIRST_STAGE]
    trained = scores[scores["schedule"] != FIRST_STAGE]
    rows = []
    for (ranker, reranker, dataset, metric), cell in trained.groupby(["ranker", "reranker", "dataset", "metric"],
                                                                    sort=False):
        systems = {s: g.set_index("qid")["value"] for s, g in cell.groupby("schedule", sort=False)}
        base = first[(first["ranker"] == ranker) & (first["dataset"] == dataset) & (first["metric"] == metric)]
        pairs = list(itertools.combinations(systems, 2))
        if len(base):
            systems[FIRST_STAGE] = base.set_index("qid")["value"]
            pairs += [(s, FIRST_STAGE) for s in systems if s != FIRST_STAGE]
        family = []
        for a, b in pairs:
            qids = systems[a].index.intersection(systems[b].index)
            x, y = systems[a].loc[qids].to_numpy(float), systems[b].loc[qids].to_numpy(float)
            statistic, p = paired_test(x, y, test, permutations, seed)
            family.append({"ranker": ranker, "reranker": reranker, "dataset": dataset, "metric": metric,
                           "system_a": a, "system_b": b, "n_queries": len(qids), "mean_a": x.mean(),
                           "mean_b": y.mean(), "difference": x.mean() - y.mean(), "effect_size": effect_size(x, y),
                           "test": test, "statistic": statistic, "p_value": p})
        raw = [r["p_value"] for r in family]
        method = CORRECTIONS[correction]
        corrected = multipletests(raw, alpha=alpha, method=method)[1] if method and raw else raw
        for r, p in zip(family, corrected):
            r.update(correction=correction, p_corrected=float(p), significant=bool(p < alpha))
        rows += family
    return pd.DataFrame(rows)
