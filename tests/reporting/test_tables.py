"""Golden tests of the paper-layout tables on a small fixed input (values checked by hand)."""

import pandas as pd
import pytest

from stagewise.reporting.table import latex_table, main_table, markdown_table, vs_reference

from .fixed import fixed_grid, fixed_significance

GOLDEN_MD = """### ndcg@10

| reranker | schedule | bm25 dl19 | colbert dl19 |
|---|---|---:|---:|
| first stage |  | 0.350 | 0.450 |
| electra | C | 0.560 | 0.660<sup>f</sup> |
| electra | C-D | 0.610<sup>af</sup> | 0.710 |

Superscripts: significantly better than C (a), D (b), C-D (c), D-C (d) or the first stage (f) of the same ranker, \
reranker and test set, after correction for the comparisons of that family.
"""


def test_markdown_table_is_the_golden_one():
    table = main_table(fixed_grid(), fixed_significance())
    assert markdown_table(table, ["ndcg@10"]) == GOLDEN_MD


def test_latex_table_has_the_same_cells_and_superscripts():
    tex = latex_table(main_table(fixed_grid(), fixed_significance()), ["ndcg@10"])
    assert "electra & C-D & 0.610$^{af}$ & 0.710 \\\\" in tex
    assert "\\multicolumn{1}{c}{bm25} & \\multicolumn{1}{c}{colbert}" in tex


def test_main_table_is_tidy_with_markers_both_ways():
    table = main_table(fixed_grid(), fixed_significance())
    assert list(table.columns) == ["ranker", "reranker", "schedule", "dataset", "metric", "n_seeds", "mean", "std",
                                   "ci_low", "ci_high", "better_than", "worse_than"]
    row = table[(table["ranker"] == "bm25") & (table["schedule"] == "C")].iloc[0]
    assert (row["mean"], row["n_seeds"], row["worse_than"]) == (pytest.approx(0.56), 2, "c")
    first = table[(table["ranker"] == "bm25") & (table["schedule"] == "-")].iloc[0]
    assert first["worse_than"] == "electra:c"


def test_vs_reference_shows_ours_theirs_and_the_difference():
    table = main_table(fixed_grid(), fixed_significance())
    ref = [{"ranker": "bm25", "reranker": "electra", "schedule": "C", "dataset": "dl19", "metric": "ndcg@10",
            "value": 0.5},
           {"ranker": "bm25", "reranker": "electra", "schedule": "D", "dataset": "dl19", "metric": "ndcg@10",
            "value": 0.4}]
    out = vs_reference(table, ref)
    assert out.loc[0, "ours"] == pytest.approx(0.56) and out.loc[0, "difference"] == pytest.approx(0.06)
    assert pd.isna(out.loc[1, "ours"])  # a reference cell we did not run stays visible, empty
