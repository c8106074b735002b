import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from stagewise.reporting import significance
from stagewise.reporting.significance import aggregate, paired_test
from stagewise.settings import SignificanceSettings

COLUMNS = ["ranker", "reranker", "schedule", "seed", "dataset", "qid", "metric", "value"]


def compare(per_query, margins=None, **given):
    """The comparisons at the significance settings ``given`` (the others the schema's)."""
    return significance.compare(per_query, SignificanceSettings.of(equivalence_margins=margins or {}, **given))


def grid(n_queries=30, seeds=("1", "2", "3"), seed=0):
    """Per-query scores of the first stage and four schedules, C-D clearly best, D-C close to C."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.6, n_queries)
    shift = {"C": 0.10, "D": 0.02, "C-D": 0.20, "D-C": 0.11}
    rows = [("bm25", "-", "-", "-", "dl", f"q{i}", "ndcg@10", base[i]) for i in range(n_queries)]
    for schedule, s in shift.items():
        for seed_ in seeds:
            noise = rng.normal(0, 0.05, n_queries)
            rows += [
                ("bm25", "electra", schedule, seed_, "dl", f"q{i}", "ndcg@10", base[i] + s + noise[i])
                for i in range(n_queries)
            ]
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


def test_equivalence_p_values_are_statsmodels_ttost_paired_corrected_over_the_family():
    from statsmodels.stats.weightstats import ttost_paired

    frame = grid()
    result = compare(frame, correction="holm", margins={"ndcg@10": 0.03})
    scores = frame.groupby(["schedule", "qid"])["value"].mean()
    row = result[(result["system_a"] == "C") & (result["system_b"] == "D-C")].iloc[0]
    x, y = scores["C"].sort_index().to_numpy(), scores["D-C"].sort_index().to_numpy()
    assert row["p_equivalence"] == pytest.approx(ttost_paired(x, y, -0.03, 0.03)[0], rel=1e-12)
    assert row["margin"] == 0.03
    # the equivalence family: the 6 pairs of schedules, not the comparisons against the first stage
    cells = result[result["system_b"] != "-"]
    assert len(cells) == 6 and result.loc[result["system_b"] == "-", "p_equivalence"].isna().all()
    expected = multipletests(cells["p_equivalence"].to_numpy(), alpha=0.05, method="holm")[1]
    assert np.allclose(cells["p_equivalence_corrected"].to_numpy(), expected)
    # C and D-C differ by 0.01 on average with noise of 0.05 / sqrt(3) per query: equivalent within 0.03, while
    # C-D (0.10 better than C) is better, not equivalent
    assert row["outcome"] == "equivalent" and not row["significant"] and row["equivalent"]
    c_cd = result[(result["system_a"] == "C") & (result["system_b"] == "C-D")].iloc[0]
    assert c_cd["outcome"] == "worse" and not c_cd["equivalent"]


def test_without_a_margin_there_is_no_equivalence_test_and_no_difference_is_not_equivalence():
    result = compare(grid(n_queries=5, seed=3))
    assert result["p_equivalence"].isna().all() and not result["equivalent"].any()
    assert set(result["outcome"]) <= {"better", "worse", "inconclusive"}


def test_the_interval_is_the_90_percent_t_interval_of_the_paired_differences():
    frame = grid()
    row = compare(frame, alpha=0.05).query("system_a == 'C' and system_b == 'D'").iloc[0]
    scores = frame.groupby(["schedule", "qid"])["value"].mean()
    diff = (scores["C"].sort_index() - scores["D"].sort_index()).to_numpy()
    low, high = stats.t.interval(0.90, len(diff) - 1, loc=diff.mean(), scale=stats.sem(diff))
    assert (row["difference_low"], row["difference_high"]) == (pytest.approx(low), pytest.approx(high))


def test_the_minimum_detectable_effect_has_the_configured_power_in_statsmodels():
    from statsmodels.stats.power import TTestPower

    frame = grid(n_queries=43)
    row = compare(frame, alpha=0.05, power=0.8).query("system_a == 'C' and system_b == 'D-C'").iloc[0]
    scores = frame.groupby(["schedule", "qid"])["value"].mean()
    sd = (scores["C"] - scores["D-C"]).std(ddof=1)
    # at the level the Holm-corrected marks amount to: alpha over the family's 10 comparisons
    assert row["mde_alpha"] == pytest.approx(0.005)
    effect = row["mde"] / sd
    assert TTestPower().power(effect_size=effect, nobs=43, alpha=0.005, alternative="two-sided") == pytest.approx(
        0.8, abs=1e-6
    )
    # uncorrected, the textbook value for 43 pairs: d of about 0.437; corrected it is 25-35% larger
    uncorrected = row["mde_uncorrected"] / sd
    assert uncorrected == pytest.approx(0.4373, abs=1e-3)
    assert 1.25 < effect / uncorrected < 1.45
    none = compare(frame, alpha=0.05, correction="none").query("system_a == 'C' and system_b == 'D-C'").iloc[0]
    assert none["mde_alpha"] == 0.05 and none["mde"] == pytest.approx(none["mde_uncorrected"])
    more = compare(grid(n_queries=200), alpha=0.05).query("system_a == 'C' and system_b == 'D-C'").iloc[0]
    assert more["mde"] < row["mde"]  # more queries detect smaller differences


def test_identical_systems_are_equivalent_within_any_margin():
    frame = grid(n_queries=10)
    same = frame[frame["schedule"] == "C"].assign(schedule="C-D_lr6e-12")
    result = compare(pd.concat([frame, same]), margins={"ndcg@10": 0.001})
    row = result.query("system_a == 'C' and system_b == 'C-D_lr6e-12'").iloc[0]
    assert (row["p_value"], row["p_equivalence"], row["outcome"]) == (1.0, 0.0, "equivalent")
    assert row["mde"] == 0.0


def test_a_significant_difference_inside_the_margin_is_negligible():
    """Many queries make a tiny difference significant; the TOST shows it inside the margin: the fourth outcome."""
    rng = np.random.default_rng(5)
    n = 3000
    base = rng.uniform(0.2, 0.6, n)
    rows = []
    for schedule, shift in (("C", 0.0), ("C-D", 0.004)):
        for seed_ in ("1", "2"):
            values = base + shift + rng.normal(0, 0.02, n)
            rows += [("bm25", "electra", schedule, seed_, "dl", f"q{i}", "ndcg@10", values[i]) for i in range(n)]
    row = compare(pd.DataFrame(rows, columns=COLUMNS), margins={"ndcg@10": 0.01}).iloc[0]
    assert row["significant"] and row["equivalent"] and row["outcome"] == "negligible"
    assert -0.01 < row["difference_low"] < row["difference_high"] < 0  # C below C-D, by less than the margin


def test_per_seed_differences_pair_cells_by_seed_and_the_first_stage_with_every_seed():
    rows = []
    # two queries; C's seed means 0.5 and 0.7, C-D's 0.6 and 0.6: differences -0.1 and +0.1 per seed
    for schedule, seed_, values in (
        ("C", "1", (0.4, 0.6)),
        ("C", "2", (0.6, 0.8)),
        ("C-D", "1", (0.5, 0.7)),
        ("C-D", "2", (0.5, 0.7)),
        ("-", "-", (0.1, 0.3)),
    ):
        rows += [
            ("bm25", "electra" if schedule != "-" else "-", schedule, seed_, "dl", f"q{i}", "ndcg@10", v)
            for i, v in enumerate(values)
        ]
    result = compare(pd.DataFrame(rows, columns=COLUMNS), correction="none").set_index(["system_a", "system_b"])
    pair = result.loc[("C", "C-D")]
    assert pair["seed_differences"] == "-0.1;0.1" and pair["n_seed_pairs"] == 2
    assert pair["seed_difference_mean"] == pytest.approx(0.0, abs=1e-12)
    assert pair["seed_difference_sd"] == pytest.approx(np.std([-0.1, 0.1], ddof=1))
    assert pair["seeds_agreeing"] == 0  # the ensemble's difference is 0: no seed agrees with a sign it lacks
    first = result.loc[("C", "-")]
    assert first["seed_differences"] == "0.3;0.5" and first["seeds_agreeing"] == 2


def test_the_seed_share_of_per_query_variance():
    from stagewise.reporting.significance import seed_variance_share

    rows = [
        ("bm25", "electra", "C", s, "dl", q, "ndcg@10", v)
        for q, values in (("q1", (0.2, 0.4)), ("q2", (0.6, 0.8)))
        for s, v in zip(("1", "2"), values)
    ]
    share = seed_variance_share(pd.DataFrame(rows, columns=COLUMNS))["seed_variance_share"].iloc[0]
    values = np.array([0.2, 0.4, 0.6, 0.8])
    assert share == pytest.approx(
        np.mean([np.var([0.2, 0.4], ddof=1), np.var([0.6, 0.8], ddof=1)]) / values.var(ddof=1)
    )
