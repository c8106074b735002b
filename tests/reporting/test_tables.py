"""Golden tests of the paper-layout tables on a small fixed input (values checked by hand)."""

import pandas as pd
import pytest

from stagewise.reporting.table import OOD_MEAN, latex_table, main_table, markdown_table, vs_reference

from .fixed import fixed_grid, fixed_significance

GOLDEN_MD = """### ndcg@10

| reranker | schedule | bm25 dl19 | colbert dl19 |
|---|---|---:|---:|
| first stage |  | 0.350 | 0.450 |
| electra | C | 0.560 | 0.660<sup>f</sup> |
| electra | C-D | 0.610<sup>af</sup> | 0.710 |

Seeds: seeds make up 6% of a cell's per-query variance.

Superscripts: significantly better than C (a), D (b), C-D (c), D-C (d) or the first stage (f) of the same ranker, \
reranker and test set, by more than the metric's margin where it has one. Subscripts ≈: equivalent within the margin \
(paired TOST) and not significantly different. Subscripts ~: significantly different but within the margin (a \
negligible difference). No mark: inconclusive, which is not equivalence. Families: the difference tests of every \
pair of schedules and of each against the first stage within one ranker, reranker, test set and metric are \
corrected together; the equivalence tests of the pairs of schedules form a family of their own; nothing is \
corrected across families. Tests run on per-query scores averaged over seeds (significance.csv: each comparison's \
p-values, 90% interval, minimum detectable effect and per-seed differences).
"""
# seeds: each cell's two seeds differ by 0.02 on both queries, whose values lie 0.1 apart: within-query variance
# 0.02^2 / 2 = 0.0002 over the total 0.0104 / 3, 5.8%


def test_markdown_table_is_the_golden_one():
    table = main_table(fixed_grid(), fixed_significance())
    assert markdown_table(table, ["ndcg@10"]) == GOLDEN_MD


def test_latex_table_has_the_same_cells_and_superscripts():
    tex = latex_table(main_table(fixed_grid(), fixed_significance()), ["ndcg@10"])
    assert "electra & C-D & 0.610$^{af}$ & 0.710 \\\\" in tex
    assert "\\multicolumn{1}{c}{bm25} & \\multicolumn{1}{c}{colbert}" in tex


def test_main_table_is_tidy_with_markers_both_ways():
    table = main_table(fixed_grid(), fixed_significance())
    assert list(table.columns) == [
        "ranker",
        "reranker",
        "schedule",
        "dataset",
        "metric",
        "n_seeds",
        "mean",
        "std",
        "ci_low",
        "ci_high",
        "seed_min",
        "seed_max",
        "better_than",
        "worse_than",
        "equivalent_to",
        "negligible_to",
        "seed_variance_share",
        "domain",
    ]
    row = table[(table["ranker"] == "bm25") & (table["schedule"] == "C")].iloc[0]
    assert (row["mean"], row["n_seeds"], row["worse_than"]) == (pytest.approx(0.56), 2, "c")
    first = table[(table["ranker"] == "bm25") & (table["schedule"] == "-")].iloc[0]
    assert first["worse_than"] == "electra:c"


def test_vs_reference_shows_ours_theirs_and_the_difference():
    table = main_table(fixed_grid(), fixed_significance())
    ref = [
        {
            "ranker": "bm25",
            "reranker": "electra",
            "schedule": "C",
            "dataset": "dl19",
            "metric": "ndcg@10",
            "value": 0.5,
        },
        {
            "ranker": "bm25",
            "reranker": "electra",
            "schedule": "D",
            "dataset": "dl19",
            "metric": "ndcg@10",
            "value": 0.4,
        },
    ]
    out = vs_reference(table, ref)
    assert out.loc[0, "ours"] == pytest.approx(0.56) and out.loc[0, "difference"] == pytest.approx(0.06)
    # seeds 1 and 2 score 0.55 and 0.57: 0.5 lies outside our range, by more than our seeds disagree
    assert (out.loc[0, "seed_min"], out.loc[0, "seed_max"]) == (pytest.approx(0.55), pytest.approx(0.57))
    assert out.loc[0, "std"] == pytest.approx(0.0141421, abs=1e-6) and out.loc[0, "within_seed_range"] == False  # noqa: E712
    assert pd.isna(out.loc[1, "ours"]) and pd.isna(out.loc[1, "within_seed_range"])  # not run: visible, empty
    inside = vs_reference(table, [{**ref[0], "value": 0.56}])
    assert inside.loc[0, "within_seed_range"] == True  # noqa: E712


def _with_sweep_cell(grid):
    """The fixed grid plus C-D_lr6e-12: a second stage that left C's weights as they were (C's scores)."""
    c = grid[grid["schedule"] == "C"].assign(schedule="C-D_lr6e-12")
    return pd.concat([grid, c], ignore_index=True)


def test_a_sweep_cell_gets_its_own_row_letter_and_equivalence_marks():
    grid = _with_sweep_cell(fixed_grid())
    significance = fixed_significance()
    significance["outcome"] = ["worse", "better", "inconclusive", "better"]
    equivalent = {
        "ranker": "bm25",
        "reranker": "electra",
        "dataset": "dl19",
        "metric": "ndcg@10",
        "system_a": "C",
        "system_b": "C-D_lr6e-12",
        "difference": 0.0,
        "significant": False,
        "outcome": "equivalent",
    }
    table = main_table(grid, pd.concat([significance, pd.DataFrame([equivalent])], ignore_index=True))
    md = markdown_table(table, ["ndcg@10"])
    lines = md.splitlines()
    assert lines[5:8] == [
        "| electra | C | 0.560<sub>≈e</sub> | 0.660<sup>f</sup> |",
        "| electra | C-D | 0.610<sup>af</sup> | 0.710 |",
        "| electra | C-D_lr6e-12 | 0.560<sub>≈a</sub> | 0.660 |",
    ]
    assert "D-C (d), C-D_lr6e-12 (e) or the first stage (f)" in md
    row = table[(table["ranker"] == "bm25") & (table["schedule"] == "C-D_lr6e-12")].iloc[0]
    assert (row["equivalent_to"], row["better_than"], row["worse_than"]) == ("a", "", "")
    assert "0.560$_{\\approx e}$" in latex_table(table, ["ndcg@10"])


def test_out_of_domain_columns_come_after_the_in_domain_ones_with_their_mean():
    grid = fixed_grid()
    ood = [grid.assign(dataset=name, value=grid["value"] + shift) for name, shift in (("scifact", -0.1), ("nfc", -0.2))]
    table = main_table(
        pd.concat([grid, *ood], ignore_index=True), fixed_significance(), out_of_domain=["scifact", "nfc"]
    )
    mean = table[(table["ranker"] == "bm25") & (table["schedule"] == "C") & (table["dataset"] == OOD_MEAN)].iloc[0]
    # seed means on dl19 are 0.55 and 0.57; out of domain -0.1 and -0.2: per seed 0.40 and 0.42
    assert (mean["mean"], mean["n_seeds"], mean["domain"]) == (pytest.approx(0.41), 2, "out")
    assert mean["std"] == pytest.approx(0.0141421, abs=1e-6)
    assert set(table.loc[table["dataset"] == "dl19", "domain"]) == {"in"}
    header = markdown_table(table, ["ndcg@10"]).splitlines()[2]
    assert header == (
        "| reranker | schedule | bm25 dl19 | bm25 scifact | bm25 nfc | bm25 out-of-domain mean | "
        "colbert dl19 | colbert scifact | colbert nfc | colbert out-of-domain mean |"
    )


def test_a_negligible_difference_gets_its_own_mark_and_no_superscript():
    significance = fixed_significance()
    significance["outcome"] = ["negligible", "better", "inconclusive", "better"]  # C vs C-D: within the margin
    table = main_table(fixed_grid(), significance)
    lines = markdown_table(table, ["ndcg@10"]).splitlines()
    assert lines[5:7] == [
        "| electra | C | 0.560<sub>~c</sub> | 0.660<sup>f</sup> |",
        "| electra | C-D | 0.610<sup>f</sup><sub>~a</sub> | 0.710 |",
    ]
    row = table[(table["ranker"] == "bm25") & (table["schedule"] == "C")].iloc[0]
    assert (row["negligible_to"], row["worse_than"], row["equivalent_to"]) == ("c", "", "")
    assert "0.560$_{\\sim c}$" in latex_table(table, ["ndcg@10"])


def test_metrics_that_lack_a_configured_test_set_stop_the_tables():
    """Snakemake keeps an existing metrics file when the job updating it cannot be planned (a misspelt test set
    folder): the tables must say so rather than leave the test set out."""
    from stagewise.errors import EvaluationError
    from stagewise.reporting.table import check_coverage

    grid = fixed_grid()
    models = [("electra", s, seed) for s in ("C", "C-D") for seed in ("1", "2")]
    check_coverage(grid, ["dl19"], ["bm25", "colbert"], ["bm25", "colbert"], models)  # complete: no error
    with pytest.raises(
        EvaluationError,
        match=r"the metrics lack 10 runs of the configured grid, e.g. first stage "
        r"bm25 on dl20 \(test set\(s\) dl20\).*check test_sets.dl20",
    ):
        check_coverage(grid, ["dl19", "dl20"], ["bm25", "colbert"], ["bm25", "colbert"], models)
    with pytest.raises(EvaluationError, match="electra/D-C/seed1 re-ranking bm25 on dl19"):
        check_coverage(grid, ["dl19"], ["bm25"], ["bm25"], [("electra", "D-C", 1)])


def test_teacher_cells_get_rows_after_their_schedule_letters_and_escaped_latex():
    grid = fixed_grid()
    c = grid[grid["schedule"] == "C"]
    teachers = [c.assign(schedule=cell) for cell in ("C-D@scores_lr1e-08", "D@rankgpt", "D@scores")]
    table = main_table(pd.concat([grid, *teachers], ignore_index=True), fixed_significance())
    assert {"D@rankgpt", "D@scores", "C-D@scores_lr1e-08"} <= set(table["schedule"])
    md = markdown_table(table, ["ndcg@10"])
    rows = [line.split(" | ")[1] for line in md.splitlines() if line.startswith("| electra |")]
    assert rows[:5] == ["C", "D@rankgpt", "D@scores", "C-D", "C-D@scores_lr1e-08"]
    assert "D@rankgpt (e), D@scores (g), C-D@scores_lr1e-08 (h)" in md
    tex = latex_table(table, ["ndcg@10"])
    assert "electra & D@rankgpt & " in tex and "electra & C-D@scores\\_lr1e-08 & " in tex
