"""End-to-end, beyond the paper's grid: a stage-2 sweep, out-of-domain test sets with corpora of their own (a
synthetic one with other words, always; the Vaswani collection from ../shared/data when present), equivalence
tests, the efficiency table and the best-against-last checkpoint table, through Snakemake on a tiny grid (BM25 only,
one seed)."""

import gzip
import json
import re

import pandas as pd
import pytest
import yaml

from stagewise.data.synthetic import SyntheticSpec, write_dataset
from stagewise.data.trec_dl import shared_data_dir

from .conftest import ROOT
from .test_workflow import copy_workflow, snakemake

pytestmark = pytest.mark.slow
VASWANI = shared_data_dir() / "vaswani-npl"


def vaswani_folder(folder):
    """The Vaswani collection as the user has it (TREC SGML documents and topics, a qrels file) turned into a local
    dataset folder: docs.tsv, test/queries.tsv, test/qrels.txt."""
    folder.mkdir()
    with gzip.open(VASWANI / "doc-text.trec.gz", "rt", encoding="utf-8") as f:
        docs = re.findall(r"<DOCNO>\s*(\S+)\s*</DOCNO>(.*?)</DOC>", f.read(), flags=re.S)
    (folder / "docs.tsv").write_text("".join(f"{d}\t{' '.join(t.split())}\n" for d, t in docs))
    topics = re.findall(
        r"<num>\s*(\S+)\s*</num>\s*<title>(.*?)</title>", (VASWANI / "query-text.trec").read_text(), flags=re.S
    )
    (folder / "test").mkdir()
    (folder / "test" / "queries.tsv").write_text("".join(f"{q}\t{' '.join(t.lower().split())}\n" for q, t in topics))
    (folder / "test" / "qrels.txt").write_text((VASWANI / "qrels").read_text())
    assert len(docs) == 11429 and len(topics) == 93


@pytest.fixture(scope="module")
def beyond(tmp_path_factory):
    folder = tmp_path_factory.mktemp("beyond")
    config = yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text())
    config.update(
        rankers={"bm25": {"kind": "bm25", "depth": 30}},
        schedules=["C", "C-D"],
        seeds=[1],
        significance={"equivalence_margins": {"ndcg@10": 0.02}},
    )
    config["training"]["second_stage"] = {"C-D": [{}, {"lr": 1.0e-12}]}
    # checkpoint selection: C exports its best weights by the held-out quarter's nDCG@10, D its last; the tables
    # compare each model's best and last checkpoint on the test sets
    config["training"]["C"].update(validation_fraction=0.25, select="best")
    config["training"]["D"].update(validation_fraction=0.25)
    config["evaluation"] = {"compare_checkpoints": True}
    # out of domain: a synthetic collection drawn with another seed (other words, other topics), in a local folder
    write_dataset(
        SyntheticSpec(seed=99, n_passages=400, n_topics=4, concepts_per_topic=8, splits={"test": 10}), folder / "other"
    )
    config["test_sets"]["other"] = {"dataset": "local:other/test", "corpus": "local:other", "relevance_threshold": 1}
    if VASWANI.is_dir():
        vaswani_folder(folder / "vaswani")
        config["test_sets"]["vaswani"] = {
            "dataset": "local:vaswani/test",
            "corpus": "local:vaswani",
            "relevance_threshold": 1,
        }
    copy_workflow(folder, config)
    result = snakemake(folder)
    assert result.returncode == 0, result.stderr[-4000:]
    return folder, config


def test_every_corpus_gets_its_own_index_and_store_and_every_model_reranks_every_test_set(beyond):
    folder, config = beyond
    corpora = ["main", "other"] + (["vaswani"] if "vaswani" in config["test_sets"] else [])
    for corpus in corpora:
        assert (folder / "resources" / "indexes" / corpus / "lucene").is_dir()
        assert json.loads((folder / "resources" / "docstore" / corpus / "meta.json").read_text())["documents"] > 0
    cells = ["C", "C-D", "C-D_lr1e-12"]
    for cell in cells:
        for test_set in config["test_sets"]:
            assert (
                (folder / "results" / "runs" / "rerank" / "bm25" / "electra" / cell / "seed1" / f"{test_set}.run")
                .stat()
                .st_size
            )
    # the out-of-domain run holds the other corpus's documents, not the grid's
    other_docs = {line.split("\t", 1)[0] for line in (folder / "other" / "docs.tsv").read_text().splitlines()}
    run = (folder / "results" / "runs" / "rerank" / "bm25" / "electra" / "C" / "seed1" / "other.run").read_text()
    assert {line.split()[2] for line in run.splitlines() if not line.startswith("#")} <= other_docs


def test_the_sweep_cells_share_the_stage_one_model_and_differ_in_their_second_stage(beyond):
    folder, _ = beyond
    models = folder / "results" / "models" / "electra"
    at_own, swept = (
        json.loads((models / cell / "seed1" / "hparams.json").read_text()) for cell in ("C-D", "C-D_lr1e-12")
    )
    assert at_own["init_model"] == swept["init_model"] == "results/models/electra/C/seed1"
    assert (at_own["lr"], swept["lr"]) == (1.0e-3, 1.0e-12)  # training.D's own lr, then the sweep's
    assert at_own["steps"] == 6 and swept["steps"] == 6  # a sweep entry replaces only the keys it gives


def test_tables_show_out_of_domain_columns_their_mean_and_equivalence(beyond):
    folder, config = beyond
    table = pd.read_csv(folder / "results" / "tables" / "main.csv", dtype={"seed": str})
    out = [t for t in config["test_sets"] if t not in ("test-a", "test-b")]
    assert set(table.loc[table["domain"] == "out", "dataset"]) == {*out, "out-of-domain mean"}
    ndcg = table[(table["metric"] == "ndcg@10") & (table["schedule"] == "C")].set_index("dataset")["mean"]
    # one seed: the mean of the columns. main.csv rounds every value to 4 decimals, the mean from unrounded values:
    # the columns' mean and the printed mean each lie within 0.00005 of the exact one
    assert ndcg["out-of-domain mean"] == pytest.approx(ndcg[out].mean(), abs=1e-4 + 1e-9)
    md = (folder / "results" / "tables" / "main.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| reranker"))
    assert header.endswith(" | ".join(f"bm25 {t}" for t in [*out, "out-of-domain mean"]) + " |")
    assert "| electra | C-D_lr1e-12 |" in md and "C-D_lr1e-12 (e)" in md
    assert "Minimum detectable difference between schedules" in md
    significance = pd.read_csv(folder / "results" / "tables" / "significance.csv")
    for column in ("p_equivalence_corrected", "difference_low", "difference_high", "mde", "outcome"):
        assert column in significance
    ndcg_tests = significance[significance["metric"] == "ndcg@10"]
    between_cells = ndcg_tests[ndcg_tests["system_b"] != "-"]
    assert between_cells["margin"].eq(0.02).all() and between_cells["p_equivalence"].notna().all()
    # the equivalence family is the pairs of schedule cells: no TOST against the first stage
    assert ndcg_tests.loc[ndcg_tests["system_b"] == "-", "p_equivalence"].isna().all()
    assert significance.loc[significance["metric"] == "map", "p_equivalence"].isna().all()  # no margin, no TOST
    # lr 1e-12 leaves C's weights as they were: C and C-D_lr1e-12 rank alike, equivalent on every test set
    pair = ndcg_tests[(ndcg_tests["system_a"] == "C") & (ndcg_tests["system_b"] == "C-D_lr1e-12")]
    assert len(pair) == len(config["test_sets"]) and (pair["outcome"] == "equivalent").all()


def test_the_efficiency_table_and_plot_cover_every_cell(beyond):
    folder, _ = beyond
    cells = pd.read_csv(folder / "results" / "tables" / "efficiency.csv").set_index("schedule")
    assert list(cells.index) == ["C", "C-D", "C-D_lr1e-12"]
    assert (cells["train_wall_s"] > 0).all() and (cells["rerank_s_per_query"] > 0).all()
    assert cells.loc["C-D", "train_wall_s"] > cells.loc["C", "train_wall_s"]  # C-D includes its C stage
    assert cells.loc["C-D", "steps"] == 6 + 6 and cells.loc["C-D", "teacher_rankings"] > 0
    assert cells.loc["C", "teacher_rankings"] == 0 and (cells["gpu_hours"] == 0).all()  # trained on CPU
    assert cells.loc["C", "tokens"] > cells.loc["C", "pairs"] > 0
    assert (folder / "results" / "plots" / "efficiency.png").read_bytes()[:4] == b"\x89PNG"


def test_the_checkpoints_table_sets_best_against_last_for_every_model(beyond):
    folder, config = beyond
    table = pd.read_csv(folder / "results" / "tables" / "checkpoints.csv")
    cells = ["C", "C-D", "C-D_lr1e-12"]
    assert sorted(set(table["schedule"])) == cells and set(table["dataset"]) == set(config["test_sets"])
    assert set(table["metric"]) == {"ndcg@10", "mrr@10", "map", "recall@100"} and (table["seeds"] == 1).all()
    # each column written to 6 significant digits (values below 1): within 1e-6 of each other
    assert table["best_minus_last"].to_numpy() == pytest.approx((table["best"] - table["last"]).to_numpy(), abs=2e-6)
    # the means are those of the model's runs: C selects its best (the main table's run), D stages their last
    main = pd.read_csv(folder / "results" / "metrics" / "rerank" / "bm25.tsv", sep="\t", dtype={"seed": str})
    means = main.groupby(["schedule", "dataset", "metric"])["value"].mean()
    rows = table.set_index(["schedule", "dataset", "metric"])
    assert rows["best"].xs("C", level="schedule").to_numpy() == pytest.approx(
        means.xs("C", level="schedule").reindex(rows.xs("C", level="schedule").index).to_numpy(), abs=1e-5
    )
    assert rows["last"].xs("C-D", level="schedule").to_numpy() == pytest.approx(
        means.xs("C-D", level="schedule").reindex(rows.xs("C-D", level="schedule").index).to_numpy(), abs=1e-5
    )
    # the held-out values are hparams.json's
    for cell in cells:
        model = folder / "results" / "models" / "electra" / cell / "seed1"
        selection = json.loads((model / "hparams.json").read_text())["selection"]
        other = "last" if selection["selected"] == "best" else "best"
        assert (model / "checkpoints" / other / "model.safetensors").exists()
        assert selection["selected"] == ("best" if cell == "C" else "last") and selection["last_step"] in (4, 6)
        row = table[table["schedule"] == cell].iloc[0]
        assert (row["held_out_best"], row["held_out_last"]) == pytest.approx(
            (selection["best_value"], selection["last_value"]), abs=1e-5
        )
    md = (folder / "results" / "tables" / "checkpoints.md").read_text()
    assert md.startswith("| ranker | reranker | schedule | test set | metric | last | best | best - last |")


@pytest.fixture(scope="module")
def two_teachers(tmp_path_factory):
    """The tiny grid with D only and two teachers: the simulated teacher's ranking and its scores (margin_mse)."""
    folder = tmp_path_factory.mktemp("teachers")
    config = yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text())
    config.update(rankers={"bm25": {"kind": "bm25", "depth": 30}}, schedules=["D"], seeds=[1])
    config["teachers"] = {
        "ranks": config.pop("teacher"),
        "scores": {"labels": "scores", "run": "resources/teacher/synthetic/train-scores.run", "loss": "margin_mse"},
    }
    copy_workflow(folder, config)
    result = snakemake(folder, "results/tables/main.csv")
    assert result.returncode == 0, result.stderr[-4000:]
    return folder


def test_each_teacher_trains_its_own_d_model_with_its_loss_and_gets_its_rows(two_teachers):
    models = two_teachers / "results" / "models" / "electra"
    hparams = {t: json.loads((models / f"D@{t}" / "seed1" / "hparams.json").read_text()) for t in ("ranks", "scores")}
    assert (hparams["ranks"]["loss"], hparams["scores"]["loss"]) == ("ranknet", "margin_mse")
    assert not (models / "D").exists()
    table = pd.read_csv(two_teachers / "results" / "tables" / "main.csv", dtype={"seed": str})
    rows = table[(table["metric"] == "ndcg@10") & (table["dataset"] == "test-a") & (table["schedule"] != "-")]
    assert sorted(rows["schedule"]) == ["D@ranks", "D@scores"]
