"""Real data: our evaluation on the shared TREC DL 2019/2020 runs equals the reference numbers in the shared
READMEs (ir-measures 0.4.3, the Anserini/Pyserini 2CR values) to four decimals, and the local dataset folders
built from those files (config/trecdl.yaml) keep them. Skipped when the shared folder is absent."""

import pytest

from stagewise.data import datasets
from stagewise.data.texts import doc_texts
from stagewise.data.trec_dl import RUNS, prepare_trec_dl, shared_data_dir
from stagewise.evaluation.metrics import per_query_metrics
from stagewise.io import read_qrels, read_run

SHARED = shared_data_dir()
pytestmark = pytest.mark.skipif(
    not (SHARED / "trec-dl-msmarco-topics-qrels").is_dir(),
    reason=f"shared TREC DL data not found at {SHARED} (set STAGEWISE_SHARED_DATA)",
)

QRELS = {
    "dl19": "trec-dl-msmarco-topics-qrels/qrels.dl19-passage.txt",
    "dl20": "trec-dl-msmarco-topics-qrels/qrels.dl20-passage.txt",
}

# dl19-dl20-first-stage-runs-with-text/README.md: (nDCG@10, R(rel=2)@100) per run and year
TEXT_RUNS = {
    ("bm25", "dl19"): (0.5058, 0.4910),
    ("bm25", "dl20"): (0.4796, 0.5599),
    ("bm25_rm3", "dl19"): (0.5216, 0.5259),
    ("bm25_rm3", "dl20"): (0.4896, 0.6182),
    ("tasb", "dl19"): (0.7210, 0.6097),
    ("tasb", "dl20"): (0.6854, 0.7135),
    ("ada2", "dl19"): (0.7035, 0.6235),
    ("ada2", "dl20"): (0.6759, 0.7237),
    ("splade", "dl19"): (0.7308, 0.6390),
    ("splade", "dl20"): (0.7197, 0.7653),
}
# rank-distillm-dl-runs/README.md: ColBERTv2 top-500 (scores with many ties)
COLBERT = {
    "dl19": {"ndcg@10": 0.7320, "recall@100": 0.6662, "recall@1000": 0.8452},
    "dl20": {"ndcg@10": 0.7245, "recall@100": 0.7608},
}


def means(qrels, run, metrics):
    frame = per_query_metrics(qrels, run, metrics, relevance_threshold=2)
    return {m: round(v, 4) for m, v in frame.groupby("metric")["value"].mean().items()}


@pytest.mark.parametrize("ranker, year", sorted(TEXT_RUNS))
def test_first_stage_runs_evaluate_to_the_readme_numbers(ranker, year):
    qrels = read_qrels(SHARED / QRELS[year])
    run = read_run(SHARED / RUNS[ranker][year])
    ndcg, recall = TEXT_RUNS[ranker, year]
    assert means(qrels, run, ["ndcg@10", "recall@100"]) == {"ndcg@10": ndcg, "recall@100": recall}


@pytest.mark.parametrize("year", sorted(COLBERT))
def test_colbert_runs_with_tied_scores_evaluate_as_trec_eval_does(year):
    # 5,222 tied (query, score) groups in DL19: ranx's own order of ties gives 0.7312 / 0.6660 here;
    # trec_eval's (descending docid) gives the README's 0.7320 / 0.6662
    qrels = read_qrels(SHARED / QRELS[year])
    run = read_run(SHARED / RUNS["colbertv2"][year])
    assert means(qrels, run, list(COLBERT[year])) == COLBERT[year]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("trecdl") / "trecdl"
    return out, prepare_trec_dl(SHARED, out, depth=100)


def test_prepared_folders_count_what_they_keep_and_drop(prepared):
    out, summary = prepared
    assert summary["passages"] == 24884
    assert summary["sets"]["dl19"] == {"queries": 43, "judgments": 9260}
    assert summary["sets"]["dl20"] == {"queries": 54, "judgments": 11386}
    assert summary["sets"]["dl19-train"] == {"queries": 43, "judgments": 3839}  # README: 3,839 judged pairs with text
    assert summary["runs"]["bm25/dl20"] == {"queries": 54, "kept": 5400, "dropped_without_text": 0}
    # README: 85.0% / 83.8% of the ColBERTv2 top-100 have text
    assert summary["runs"]["colbertv2/dl19"] == {"queries": 43, "kept": 3657, "dropped_without_text": 643}
    assert summary["runs"]["colbertv2/dl20"] == {"queries": 54, "kept": 4527, "dropped_without_text": 873}
    texts = doc_texts(f"local:{out}", read_run(out / "runs" / "colbertv2" / "dl20.run")["1030303"])
    assert all(texts.values())


@pytest.mark.parametrize("ranker, year", [("bm25", "dl19"), ("bm25", "dl20"), ("splade", "dl20"), ("tasb", "dl20")])
def test_prepared_local_datasets_and_runs_keep_the_readme_numbers(prepared, ranker, year):
    """Through the workflow's path: local:<folder> qrels read by ir_datasets, runs rewritten by us."""
    out, _ = prepared
    qrels = datasets.qrels(f"local:{out / year}")
    run = read_run(out / "runs" / ranker / f"{year}.run")
    ndcg, recall = TEXT_RUNS[ranker, year]
    assert means(qrels, run, ["ndcg@10", "recall@100"]) == {"ndcg@10": ndcg, "recall@100": recall}
    assert len(datasets.queries(f"local:{out / year}")) == len(qrels)


def test_incomplete_shared_folder_names_a_missing_file(tmp_path):
    from stagewise.errors import InputFormatError

    (tmp_path / "trec-dl-msmarco-topics-qrels").mkdir()
    with pytest.raises(InputFormatError, match=r"incomplete: .*passages_dl19_dl20_union\.tsv\.gz"):
        prepare_trec_dl(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_trecdl_config_plans_the_real_experiment(tmp_path):
    """config/trecdl.yaml validates and plans: the dataset rule, 2 models, BM25 and ColBERTv2 re-ranked."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    from stagewise.config import validate_config

    from .conftest import ROOT, copy_checkout

    config = validate_config(yaml.safe_load((ROOT / "config" / "trecdl.yaml").read_text()))
    assert [r for r, s in config["rankers"].items() if s["rerank"]] == ["bm25", "colbertv2"]
    copy_checkout(tmp_path)  # a clean checkout: nothing built yet
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    result = subprocess.run(
        [snakemake, "-n", "--configfile", "config/trecdl.yaml", "--config", f"trec_dl={{'source': '{SHARED}'}}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    # a re-ranking job per (model, test set) re-ranks both rankers' runs
    assert (counts["trec_dl_dataset"], counts["train"], counts["rerank"], counts["evaluate_rerank"]) == (
        "1",
        "2",
        "2",
        "2",
    )
    assert "teacher_files" not in counts  # the SPLADE teacher run is made by the dataset rule


def test_command_line_builds_the_folders(tmp_path, capsys):
    import json

    from stagewise.cli import main

    main(["trecdl", str(tmp_path / "trecdl"), "--source", str(SHARED), "--depth", "10"])
    runs = json.loads(capsys.readouterr().out)
    assert runs["bm25/dl19"] == {"queries": 43, "kept": 430, "dropped_without_text": 0}
    assert runs["colbertv2/dl19"]["kept"] + runs["colbertv2/dl19"]["dropped_without_text"] == 430
    assert (tmp_path / "trecdl" / "dl20" / "qrels.txt").exists()
