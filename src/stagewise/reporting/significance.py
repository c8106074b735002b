"""Seed statistics and significance tests between schedules, on per-query scores.

Tests and corrections come from scipy and statsmodels: the paired t-test is ``scipy.stats.ttest_rel``,
the randomization test ``scipy.stats.permutation_test`` (paired, seeded), the corrections
``statsmodels.stats.multitest.multipletests``. Effect size: Cohen's d of the paired differences
(mean difference / standard deviation of the differences).

Families: within each (ranker, reranker, test set, metric), the difference tests of every pair of schedule cells and
of every cell against the first stage are corrected together; the equivalence tests cover the pairs of schedule cells
only (a fine-tuned re-ranker is never "on par" with its first stage, and testing it would only weaken the
correction). Nothing is corrected across families (across test sets, metrics, rankers or rerankers).

A test that finds no difference does not show that there is none. Each comparison also gets:

* an equivalence test (pairs of cells) against a margin fixed in the config before the run
  (``significance.equivalence_margins``, per metric): the paired TOST (two one-sided t-tests,
  ``statsmodels.stats.weightstats.ttost_paired``) of ``-margin < mean(a - b) < margin``, its p-values corrected over
  the equivalence family;
* the 1 - 2 alpha (90%) confidence interval of the mean paired difference (``DescrStatsW.tconfint_mean``): the
  uncorrected TOST at alpha says "equivalent" exactly when this interval lies inside the margin; the corrected TOST
  that decides the outcome is stricter (an interval at 1 - 2 alpha / m for Bonferroni);
* the minimum detectable effect: the smallest mean difference a paired t-test detects with the configured power
  (80%) for this number of queries and this spread of differences (``TTestPower``, solved for the standardized
  effect, times the standard deviation of the differences), at the level the marks use: alpha / m for Holm and
  Bonferroni (Bonferroni's level is the bound Holm's first step uses, the honest one for any comparison of the
  family), alpha without a correction; ``mde_uncorrected`` at alpha;
* seed-level evidence: the scores are averaged over seeds before testing, so the tests describe the seed ensemble on
  these queries. Each comparison also lists the difference of the two systems' means per seed (paired by seed: cells
  sharing a stage-1 model share its seed; the first stage has one run for all), their mean, standard deviation and
  how many agree in sign with the ensemble's difference.

The outcome of a comparison:
``better`` / ``worse`` (a against b): the difference test is significant after correction and the difference is not
shown to lie within the margin; ``negligible``: significant, and the TOST shows it within the margin (different,
but by less than the margin: with thousands of queries a tiny difference is significant); ``equivalent``: not
significant, and within the margin; ``inconclusive``: neither (the data cannot tell; the minimum detectable effect
says how large a difference could have gone unseen).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

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
    return over_seeds(seed_means(per_query), confidence)


def over_seeds(means: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """``aggregate`` of per-seed means (one row per cell, seed and metric), with the lowest and highest seed's."""
    rows = []
    for key, group in means.groupby(GRID + ["metric"], sort=False):
        values = group["value"].to_numpy(dtype=float)
        n, mean = len(values), float(values.mean())
        std = float(values.std(ddof=1)) if n > 1 else 0.0
        if n > 1 and std > 0:
            low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=std / np.sqrt(n))
        else:
            low = high = mean
        rows.append((*key, n, mean, std, float(low), float(high), float(values.min()), float(values.max())))
    return pd.DataFrame(
        rows, columns=GRID + ["metric", "n_seeds", "mean", "std", "ci_low", "ci_high", "seed_min", "seed_max"]
    )


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
        result = stats.permutation_test(
            (a, b),
            lambda x, y, axis: np.mean(x - y, axis=axis),
            vectorized=True,
            permutation_type="samples",
            n_resamples=permutations,
            alternative="two-sided",
            random_state=np.random.default_rng(seed),
        )
        return float(result.statistic), float(result.pvalue)
    raise ValueError(f"test must be one of {TESTS}, not {test!r}")


def effect_size(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d for paired samples: mean(a - b) / std(a - b)."""
    diff = a - b
    sd = diff.std(ddof=1) if len(diff) > 1 else 0.0
    return float(diff.mean() / sd) if sd > 0 else 0.0


def equivalence_test(a: np.ndarray, b: np.ndarray, margin: float) -> float:
    """The p-value of the paired TOST that ``-margin < mean(a - b) < margin`` (the larger of the two one-sided
    p-values). Differences without spread give 0 inside the margin and 1 outside (statsmodels' infinite t)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(ttost_paired(a, b, -margin, margin)[0])


def difference_interval(a: np.ndarray, b: np.ndarray, alpha: float) -> tuple[float, float]:
    """The 1 - 2 alpha confidence interval of the mean paired difference a - b (t-based): the interval TOST at
    alpha checks against the margin."""
    diff = a - b
    if len(diff) < 2 or np.allclose(diff, diff[0]):
        return float(diff.mean()), float(diff.mean())
    low, high = DescrStatsW(diff).tconfint_mean(alpha=2 * alpha)
    return float(low), float(high)


def seed_variance_share(per_query: pd.DataFrame) -> pd.DataFrame:
    """Per (cell, metric): the share of the variance of per-query scores over (query, seed) that lies between seeds
    of the same query (mean over queries of the variance across seeds, over the variance of all values; ddof 1
    both); NaN with one seed."""
    rows = []
    for key, group in per_query.groupby(GRID + ["metric"], sort=False):
        wide = group.pivot_table(index="qid", columns="seed", values="value", aggfunc="mean")
        values = wide.to_numpy(dtype=float)
        total = values.var(ddof=1) if values.size > 1 else 0.0
        if wide.shape[1] < 2 or total == 0:
            share = float("nan") if wide.shape[1] < 2 else 0.0
        else:
            share = float(np.nanmean(values.var(axis=1, ddof=1)) / total)
        rows.append((*key, share))
    return pd.DataFrame(rows, columns=GRID + ["metric", "seed_variance_share"])


def seed_differences(a: pd.DataFrame, b: pd.DataFrame, overall: float) -> dict:
    """Per seed, mean(a) - mean(b) over the queries both have (``a``/``b``: qid, seed, value; a system with one seed,
    the first stage, pairs with every seed of the other), and how many agree in sign with ``overall``."""
    means = []
    seeds_b = set(b["seed"])
    for seed in sorted(set(a["seed"]) if len(seeds_b) == 1 else set(a["seed"]) & seeds_b):
        x = a[a["seed"] == seed].set_index("qid")["value"]
        y = (b if len(seeds_b) == 1 else b[b["seed"] == seed]).set_index("qid")["value"]
        common = x.index.intersection(y.index)
        means.append(float(x.loc[common].mean() - y.loc[common].mean()))
    values = np.asarray(means)
    return {
        "n_seed_pairs": len(values),
        "seed_differences": ";".join(f"{v:.6g}" for v in values),
        "seed_difference_mean": float(values.mean()) if len(values) else float("nan"),
        "seed_difference_sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
        "seeds_agreeing": int((np.sign(values) == np.sign(overall)).sum()) if overall != 0 else 0,
    }


def minimum_detectable_effect(a: np.ndarray, b: np.ndarray, alpha: float, power: float = 0.8) -> float:
    """The smallest mean difference a two-sided paired t-test at ``alpha`` detects with ``power``, for these
    queries: the standardized effect from ``TTestPower`` times the standard deviation of the differences."""
    diff = a - b
    if len(diff) < 2:
        return float("nan")
    d = TTestPower().solve_power(effect_size=None, nobs=len(diff), alpha=alpha, power=power, alternative="two-sided")
    return float(d * diff.std(ddof=1))


OUTCOMES = ("better", "worse", "negligible", "equivalent", "inconclusive")


def outcome(significant: bool, difference: float, equivalent: bool) -> str:
    """better / worse (a against b), negligible (significant, within the margin), equivalent (not significant,
    within the margin) or inconclusive: see the module docstring."""
    if significant and equivalent:
        return "negligible"
    if significant:
        return "better" if difference > 0 else "worse"
    return "equivalent" if equivalent else "inconclusive"


def family_alpha(alpha: float, correction: str, size: int) -> float:
    """The per-comparison level a family's marks amount to: alpha / size for Holm (its first, strictest step;
    the bound that holds for every comparison) and Bonferroni, alpha without a correction."""
    return alpha / max(size, 1) if CORRECTIONS[correction] else alpha


def compare(per_query: pd.DataFrame, settings) -> pd.DataFrame:
    """Every pair of schedules, and every schedule against the first stage, within each (ranker, reranker,
    test set, metric): the difference tests as one family, corrected together; the equivalence tests (for metrics
    with a margin in ``settings.equivalence_margins``) of the pairs of schedules as another. ``settings``: a
    ``stagewise.settings.SignificanceSettings`` (test, correction, alpha, permutations, seed, power). See the module
    docstring."""
    test, correction, alpha = settings.test, settings.correction, settings.alpha
    permutations, seed, power = settings.permutations, settings.seed, settings.power
    margins = settings.equivalence_margins
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {sorted(CORRECTIONS)}, not {correction!r}")
    scores = per_query_over_seeds(per_query)
    first = scores[scores["schedule"] == FIRST_STAGE]
    first_runs = per_query[per_query["schedule"] == FIRST_STAGE]
    trained = scores[scores["schedule"] != FIRST_STAGE]
    runs = per_query[per_query["schedule"] != FIRST_STAGE]
    by_cell = {key: g for key, g in runs.groupby(["ranker", "reranker", "dataset", "metric"], sort=False)}
    rows = []
    for (ranker, reranker, dataset, metric), cell in trained.groupby(
        ["ranker", "reranker", "dataset", "metric"], sort=False
    ):
        systems = {s: g.set_index("qid")["value"] for s, g in cell.groupby("schedule", sort=False)}
        seeds = {
            s: g[["qid", "seed", "value"]]
            for s, g in by_cell[(ranker, reranker, dataset, metric)].groupby("schedule", sort=False)
        }
        base = first[(first["ranker"] == ranker) & (first["dataset"] == dataset) & (first["metric"] == metric)]
        pairs = list(itertools.combinations(systems, 2))
        if len(base):
            systems[FIRST_STAGE] = base.set_index("qid")["value"]
            seeds[FIRST_STAGE] = first_runs[
                (first_runs["ranker"] == ranker) & (first_runs["dataset"] == dataset) & (first_runs["metric"] == metric)
            ][["qid", "seed", "value"]]
            pairs += [(s, FIRST_STAGE) for s in systems if s != FIRST_STAGE]
        level = family_alpha(alpha, correction, len(pairs))
        family = []
        for a, b in pairs:
            qids = systems[a].index.intersection(systems[b].index)
            x, y = systems[a].loc[qids].to_numpy(float), systems[b].loc[qids].to_numpy(float)
            statistic, p = paired_test(x, y, test, permutations, seed)
            margin = None if b == FIRST_STAGE else margins.get(metric)
            low, high = difference_interval(x, y, alpha)
            family.append(
                {
                    "ranker": ranker,
                    "reranker": reranker,
                    "dataset": dataset,
                    "metric": metric,
                    "system_a": a,
                    "system_b": b,
                    "n_queries": len(qids),
                    "mean_a": x.mean(),
                    "mean_b": y.mean(),
                    "difference": x.mean() - y.mean(),
                    "effect_size": effect_size(x, y),
                    "test": test,
                    "statistic": statistic,
                    "p_value": p,
                    "difference_low": low,
                    "difference_high": high,  # at 1 - 2 alpha (90%)
                    "mde": minimum_detectable_effect(x, y, level, power),
                    "mde_alpha": level,
                    "mde_uncorrected": minimum_detectable_effect(x, y, alpha, power),
                    "margin": float("nan") if margin is None else float(margin),
                    "p_equivalence": float("nan") if margin is None else equivalence_test(x, y, margin),
                    **seed_differences(seeds[a], seeds[b], x.mean() - y.mean()),
                }
            )
        method = CORRECTIONS[correction]
        for column, corrected_column in (("p_value", "p_corrected"), ("p_equivalence", "p_equivalence_corrected")):
            indices = [i for i, r in enumerate(family) if not np.isnan(r[column])]
            raw = [family[i][column] for i in indices]
            corrected = multipletests(raw, alpha=alpha, method=method)[1] if method and raw else raw
            for r in family:
                r[corrected_column] = float("nan")
            for i, p in zip(indices, corrected):
                family[i][corrected_column] = float(p)
        for r in family:
            r.update(
                correction=correction,
                significant=bool(r["p_corrected"] < alpha),
                equivalent=bool(r["p_equivalence_corrected"] < alpha),
            )
            r["outcome"] = outcome(r["significant"], r["difference"], r["equivalent"])
        rows += family
    return pd.DataFrame(rows)
