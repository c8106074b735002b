import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from stagewise.reporting.significance import aggregate, compare, paired_test

COLUMNS = ["ranker", "reranker", "schedule", "seed", "dataset", "qid", "metric", "value"]


def grid(n_queries=30, seeds=("1", "2", "3"), seed=0):
    """Per-query scores of the first stage and four schedules, C-D clearly best, D-C close to C."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.6, n_queries)
    shift = {"C": 0.10, "D": 0.02, "C-D": 0.20, "D-C": 0.11}
    rows = [("bm25", "-", "-", "-", "dl", f"q{i}", "ndcg@10", base[i]) for i in range(n_queries)]
    for schedule, s in shift.items():
        for seed_ in seeds:
            noise = rng.normal(0, 0.05, n_queries)
            rows += [("bm25", "electra", schedule, seed_, "dl", f"q{i}", "ndcg@10", base[i] + s + noise[i])
                     for i in range(n_queries)]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_t_test_p_values_are_scipys_on_seed_averaged_per_query_scores():
    frame = grid()
    result = compare(frame, test="ttest", correction="none")
    scores = frame.groupby(["schedule", "qid"])["value"].mean()
    row = result[(result["system_a"] == "C") & (result["system_b"] == "D-C")].iloc[0]
    expected = stats.ttest_rel(scores["C"].sort_index(), scores["D-C"].sort_index())
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert row["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    diff = scores["C"].sort_index() - scores["D-C"].sort_index()
    assert row["effect_size"] == pytest.approx(diff.mean() / diff.std(ddof=1))
    assert len(result) == 6 + 4  # every pair of the four schedules, and each against the first stage


@pytest.mark.parametrize("method", ["holm", "bonferroni"])
def test_corrections_are_statsmodels(method):
    result = compare(grid(), correction=method)
    expected = multipletests(result["p_value"].to_numpy(), alpha=0.05, method=method)[1]
    assert np.allclose(result["p_corrected"].to_numpy(), expected)
    assert (result["significant"] == (result["p_corrected"] < 0.05)).all()


def test_permutation_test_is_reproducible_with_a_seed_and_agrees_with_the_t_test_in_direction():
    frame = grid(n_queries=20)
    first = compare(frame, test="permutation", permutations=2000, seed=7)
    second = compare(frame, test="permutation", permutations=2000, seed=7)
    assert first["p_value"].tolist() == second["p_value"].tolist()
    t = compare(frame, test="ttest")
    strong = (t["p_value"] < 1e-4).to_numpy()
    assert strong.any() and (first["p_value"].to_numpy()[strong] < 0.01).all()


def test_identical_systems_are_not_different():
    statistic, p = paired_test(np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2, 0.3]))
    assert (statistic, p) == (0.0, 1.0)


def test_aggregate_has_mean_std_and_a_t_interval_over_seeds():
    table = aggregate(grid())
    row = table[table["schedule"] == "C-D"].iloc[0]
    per_seed = grid().query("schedule == 'C-D'").groupby("seed")["value"].mean()
    low, high = stats.t.interval(0.95, 2, loc=per_seed.mean(), scale=per_seed.std(ddof=1) / np.sqrt(3))
    assert row["n_seeds"] == 3 and row["mean"] == pytest.approx(per_seed.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    first = table[table["schedule"] == "-"].iloc[0]
    assert first["n_seeds"] == 1 and first["std"] == 0 and first["ci_low"] == first["ci_high"] == first["mean"]
