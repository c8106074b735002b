import pytest

from stagewise.errors import InputFormatError
from stagewise.reporting.reference import reference_cells

RELEASE = (
    "first_stage\treranker\tschedule\tdataset\tmetric\tvalue\n"
    "bm25\t-\t-\tdl19\tAP\t0.3035\n"
    "bm25\telectra\tC-D\tdl19\tnDCG@10\t0.7001\n"
    "contriever\t-\t-\tdl19\tRR@10\t0.8\n"
)


def test_a_release_layout_file_maps_metric_names_and_keeps_the_named_rankers(tmp_path):
    (tmp_path / "ref.tsv").write_text(RELEASE)
    cells = reference_cells(
        {
            "file": str(tmp_path / "ref.tsv"),
            "metric_names": {"AP": "map", "nDCG@10": "ndcg@10"},
            "rankers": ["bm25"],
            "cells": [{"ranker": "x", "reranker": "-", "schedule": "-", "dataset": "d", "metric": "map", "value": 0.1}],
        }
    )
    assert cells == [
        {"ranker": "x", "reranker": "-", "schedule": "-", "dataset": "d", "metric": "map", "value": 0.1},
        {"ranker": "bm25", "reranker": "-", "schedule": "-", "dataset": "dl19", "metric": "map", "value": 0.3035},
        {
            "ranker": "bm25",
            "reranker": "electra",
            "schedule": "C-D",
            "dataset": "dl19",
            "metric": "ndcg@10",
            "value": 0.7001,
        },
    ]


def test_a_bad_value_or_header_names_file_and_line(tmp_path):
    (tmp_path / "ref.tsv").write_text(RELEASE.replace("0.7001", "n/a"))
    with pytest.raises(InputFormatError, match=r"ref\.tsv:3: value 'n/a' is not a number"):
        reference_cells({"file": str(tmp_path / "ref.tsv")})
    (tmp_path / "ref.tsv").write_text("ranker\tmetric\tvalue\nbm25\tAP\t0.3\n")
    with pytest.raises(InputFormatError, match=r"ref\.tsv:1: the header lacks the columns"):
        reference_cells({"file": str(tmp_path / "ref.tsv")})


def test_a_reference_schedule_swept_without_its_own_cell_is_compared_with_each_of_its_cells():
    from stagewise.reporting.reference import paired_with_cells

    ref = [
        {"ranker": "bm25", "reranker": "-", "schedule": "-", "dataset": "dl19", "metric": "map", "value": 0.3},
        {"ranker": "bm25", "reranker": "electra", "schedule": "C", "dataset": "dl19", "metric": "map", "value": 0.4},
        {"ranker": "bm25", "reranker": "electra", "schedule": "C-D", "dataset": "dl19", "metric": "map", "value": 0.5},
        {"ranker": "bm25", "reranker": "electra", "schedule": "D-C", "dataset": "dl19", "metric": "map", "value": 0.6},
    ]
    # C-D: a sweep of named settings only (the paper grid); D-C: a sweep that keeps its own cell (the demo's kind)
    cells = ["C", "D", "C-D_lr1e-08", "C-D_lr1e-05", "D-C", "D-C_lr6e-12_steps100"]
    paired = paired_with_cells(ref, cells)
    assert [(c["schedule"], c["value"]) for c in paired] == [
        ("-", 0.3),
        ("C", 0.4),
        ("C-D_lr1e-08", 0.5),
        ("C-D_lr1e-05", 0.5),
        ("D-C", 0.6),
    ]
    # a schedule the grid does not have stays as given (no number of ours next to it)
    assert paired_with_cells(ref[2:3], ["C", "D"])[0]["schedule"] == "C-D"
