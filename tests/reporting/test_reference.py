import pytest

from stagewise.errors import InputFormatError
from stagewise.reporting.reference import reference_cells

RELEASE = ("first_stage\treranker\tschedule\tdataset\tmetric\tvalue\n"
           "bm25\t-\t-\tdl19\tAP\t0.3035\n"
           "bm25\telectra\tC-D\tdl19\tnDCG@10\t0.7001\n"
           "contriever\t-\t-\tdl19\tRR@10\t0.8\n")


def test_a_release_layout_file_maps_metric_names_and_keeps_the_named_rankers(tmp_path):
    (tmp_path / "ref.tsv").write_text(RELEASE)
    cells = reference_cells({"file": str(tmp_path / "ref.tsv"), "metric_names": {"AP": "map", "nDCG@10": "ndcg@10"},
                             "rankers": ["bm25"], "cells": [{"ranker": "x", "reranker": "-", "schedule": "-",
                                                             "dataset": "d", "metric": "map", "value": 0.1}]})
    assert cells == [{"ranker": "x", "reranker": "-", "schedule": "-", "dataset": "d", "metric": "map", "value": 0.1},
                     {"ranker": "bm25", "reranker": "-", "schedule": "-", "dataset": "dl19", "metric": "map",
                      "value": 0.3035},
                     {"ranker": "bm25", "reranker": "electra", "schedule": "C-D", "dataset": "dl19",
                      "metric": "ndcg@10", "value": 0.7001}]


def test_a_bad_value_or_header_names_file_and_line(tmp_path):
    (tmp_path / "ref.tsv").write_text(RELEASE.replace("0.7001", "n/a"))
    with pytest.raises(InputFormatError, match=r"ref\.tsv:3: value 'n/a' is not a number"):
        reference_cells({"file": str(tmp_path / "ref.tsv")})
    (tmp_path / "ref.tsv").write_text("ranker\tmetric\tvalue\nbm25\tAP\t0.3\n")
    with pytest.raises(InputFormatError, match=r"ref\.tsv:1: the header lacks the columns"):
        reference_cells({"file": str(tmp_path / "ref.tsv")})
