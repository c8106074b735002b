"""The paper's grid (config/paper.yaml) plans on a machine without its data or checkpoints, and reproduces the
released code's settings."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stagewise.config import relevance_thresholds, validate_config
from stagewise.grid import grid_cells
from stagewise.settings import cell_stage

from .conftest import ROOT, copy_checkout, with_venv_path

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture(scope="module")
def paper():
    return validate_config(yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()))


DEVIATIONS = "Where stagewise deviates from the released code"


def deviation_table() -> dict[str, dict[str, str]]:
    """The table "Where stagewise deviates from the released code" (a heading of exactly one of README.md and the
    docs/ pages: docs/paper.md): detail -> {release, ours, key}."""
    heading = re.compile(rf"^#+ {DEVIATIONS}$", re.M)
    pages = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] if heading.search(p.read_text())]
    assert len(pages) == 1, pages
    text = heading.split(pages[0].read_text())[1]
    start = text.index("\n|") + 1
    lines = text[start : text.index("\n\n", start)].splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["detail", "release", "our default", "key"], header
    rows = {}
    for line in lines[2:]:
        detail, release, ours, key = [c.strip() for c in line.strip("|").split(" | ")]
        rows[detail] = {"release": release, "ours": ours, "key": key}
    return rows


def test_paper_config_reproduces_the_released_details(paper):
    c, d = paper["training"]["C"], paper["training"]["D"]
    assert (c["negatives"], c["negatives_depth"], c["positive_policy"]) == (99, 200, "keep")
    assert c["negatives_run"]["path"].endswith("__colbert__msmarco-passage-train-judged.run")
    assert "10952882" in c["negatives_run"]["source"]
    assert (
        c["queries_per_batch"],
        c["accumulate_grad_batches"],
        d["queries_per_batch"],
        d["accumulate_grad_batches"],
    ) == (4, 4, 16, 2)
    for stage in (c, d):
        assert (stage["lr"], stage["weight_decay"], stage["warmup_steps"], stage["gradient_clip_val"]) == (
            1e-5,
            0.01,
            0,
            10.0,
        )
        assert (
            stage["max_length"] == 256 and stage["freeze_position_embeddings"] and stage["validation_fraction"] == 0.01
        )
        assert stage["weight_decay_all"] and stage["validation_seed"] == 42
        assert stage["validation_split"] == "train_test_split"  # scikit-learn's over the file's query ids
    assert (c["loss"], d["loss"], d["epochs"]) == ("lce", "ranknet", 15)
    teacher = paper["teacher"]
    assert (teacher["ranking_size"], teacher["malformed"], teacher["repeated"]) == (20, "drop", "keep")
    # the second stage: the stage's own section at each of the two learning rates the release names besides
    # optimizer_s2.yaml's 6.0e-12 (which moves no weight): its scripts' comments (1e-8) and its README (1e-5)
    assert grid_cells(paper) == ["C", "D", "C-D_lr1e-08", "C-D_lr1e-05", "D-C_lr1e-08", "D-C_lr1e-05"]
    assert cell_stage(paper, "C-D_lr1e-08").as_dict() == {**d, "lr": 1.0e-8}
    assert cell_stage(paper, "C-D_lr1e-05").as_dict() == {**d, "lr": 1.0e-5} == d
    assert cell_stage(paper, "D-C_lr1e-08").as_dict() == {**c, "lr": 1.0e-8}
    assert cell_stage(paper, "D-C_lr1e-05").as_dict() == {**c, "lr": 1.0e-5} == c
    assert cell_stage(paper, "D").as_dict() == d
    assert relevance_thresholds(paper) == {"dl19": 2, "dl20": 2, "dlhard": 2, "devsmall": 1}
    assert paper["evaluation"]["first_stage_depth"] == "full"
    assert {r: s["depth"] for r, s in paper["rankers"].items()} == {"bm25": 500, "colbertv2": 500}


def test_every_reference_cell_names_a_cell_of_the_paper_grid(paper, monkeypatch):
    from stagewise.reporting.reference import reference_cells

    monkeypatch.chdir(ROOT)
    cells = reference_cells(paper["reference"])
    assert len(cells) == 648 - 216  # the release's contriever rows aside
    models = {(r, s) for r in paper["rerankers"] for s in paper["schedules"]}
    for cell in cells:
        assert cell["ranker"] in paper["rankers"], cell
        assert (cell["reranker"], cell["schedule"]) in models | {("-", "-")}, cell
        assert cell["dataset"] in paper["test_sets"] and cell["metric"] in paper["evaluation"]["metrics"], cell
    assert {c["metric"] for c in cells} == set(paper["evaluation"]["metrics"])


def test_vs_reference_sets_each_release_two_stage_row_next_to_both_cells_of_its_schedule(paper, monkeypatch):
    from stagewise.reporting.reference import paired_with_cells, reference_cells

    monkeypatch.chdir(ROOT)
    cells = reference_cells(paper["reference"])
    grid = grid_cells(paper)
    rows = paired_with_cells(cells, grid)  # what the vs_reference rule compares (its params: the grid's cells)
    for cell in cells:
        paired = paired_with_cells([cell], grid)
        assert all({**r, "schedule": cell["schedule"]} == cell for r in paired), cell
        if cell["schedule"] in ("C-D", "D-C"):
            assert [r["schedule"] for r in paired] == [f"{cell['schedule']}_lr1e-08", f"{cell['schedule']}_lr1e-05"]
        else:
            assert [r["schedule"] for r in paired] == [cell["schedule"]], cell
    # 48 first-stage rows, 192 of C and D, and each of the 192 C-D and D-C rows twice
    assert len(rows) == 48 + 192 + 2 * 192


def dry_run(folder, *configfiles):
    """``snakemake -n --configfile ...`` in ``folder`` (a checkout): the result, which must succeed, and the job
    counts of its summary (rule -> count, as strings)."""
    result = subprocess.run(
        [SNAKEMAKE, "-n", "--configfile", *configfiles],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
        env=with_venv_path(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result, dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))


def test_paper_grid_dry_run_lists_60_trainings_240_reranking_jobs_and_no_training_retrieval(tmp_path):
    copy_checkout(tmp_path)  # a clean checkout: no results, no teacher files
    result, counts = dry_run(tmp_path, "config/paper.yaml")
    # 2 rerankers x 6 cells (C, D, C-D and D-C each at two stage-2 rates) x 5 seeds; x 4 test sets, each job
    # re-ranking both rankers' runs of its test set (480 runs)
    assert counts["train"] == "60" and counts["rerank"] == "240"
    # the two teacher files and the ColBERTv2 training run are the user's: no job makes them, the dry run says where
    # to get them (a run stops before any job)
    for key in ("teacher.candidates", "teacher.permutations", "training.C.negatives_run.path"):
        assert f"config key '{key}': input file not found: " in result.stdout
    assert "Obtain it from Zenodo record 10952882" in result.stdout and "external_file" not in counts
    assert counts["colbert_retrieve"] == counts["bm25_retrieve"] == "4"  # the four test sets, not the training queries
    assert "dataset=train" not in result.stdout
    # the training jobs' wildcards end at the seed (a re-ranking job's go on to its test set)
    stage2 = re.findall(
        r"wildcards: reranker=\w+, schedule=((?:C-D|D-C)_lr1e-0[58]), seed=\d+$", result.stdout, flags=re.M
    )
    assert len(stage2) == 40 and len(set(stage2)) == 4
    assert counts["vs_reference"] == "1"
    # prepared once on the submitting host: six ir_datasets ids (corpus, training queries, four test sets) and three
    # hub checkpoints; every other job reads them offline from resources/
    assert (counts["prepare_dataset"], counts["download_checkpoint"]) == ("6", "3")
    assert "resources/hub/google/electra-base-discriminator" in result.stdout
    assert "resources/ir_datasets/prepared/msmarco-passage/dev/small.json" in result.stdout


def test_a_second_teacher_plans_every_cell_with_a_d_stage_once_per_teacher(tmp_path):
    copy_checkout(tmp_path)
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    (tmp_path / "ensemble.run").write_text("q1 Q0 d1 1 12.5 ensemble\nq1 Q0 d2 2 3.25 ensemble\n")
    config["teachers"] = {
        "rankgpt": config.pop("teacher"),
        "ensemble": {"labels": "scores", "run": "ensemble.run", "loss": "margin_mse"},
    }
    (tmp_path / "two-teachers.yaml").write_text(yaml.safe_dump(config))
    result, counts = dry_run(tmp_path, "two-teachers.yaml")
    # 2 rerankers x 11 cells (C; D, C-D and D-C at two stage-2 rates, each per teacher) x 5 seeds; x 4 test sets
    assert counts["train"] == str(2 * 11 * 5) and counts["rerank"] == str(2 * 11 * 5 * 4)
    cells = set(re.findall(r"wildcards: reranker=\w+, schedule=(\S+), seed=\d", result.stdout))
    for teacher in ("rankgpt", "ensemble"):
        assert {f"D@{teacher}", f"C-D@{teacher}_lr1e-08", f"D-C@{teacher}_lr1e-05"} <= cells
    assert not {"D", "C-D_lr1e-08", "D-C_lr1e-05"} & cells
    jobs = {
        m[1]: m[0] for m in re.findall(r"input: (.*)\n\s+output: results/models/electra/(\S+)/seed1\n", result.stdout)
    }
    assert jobs["D@ensemble"].endswith("ensemble.run") and "ensemble.run" not in jobs["D@rankgpt"]
    assert jobs["D-C@ensemble_lr1e-05"].startswith("results/models/electra/D@ensemble/seed1,")
    assert jobs["C-D@ensemble_lr1e-08"].startswith("results/models/electra/C/seed1,")


def test_an_absent_download_stops_the_run_before_any_job_saying_where_to_get_it_and_a_present_one_is_left_alone(
    tmp_path,
):
    copy_checkout(tmp_path)
    candidates = tmp_path / "resources" / "teacher" / "rankgpt" / "marco-train-100k.jsonl"
    candidates.parent.mkdir(parents=True)
    candidates.write_text('{"query_id": "1", "query": "q", "retrieved_passages": []}\n')
    env = with_venv_path()
    run = "resources/training/colbertv2/__colbert__msmarco-passage-train-judged.run"
    result = subprocess.run(
        [SNAKEMAKE, "resources/training/candidates", "--cores", "1", "--configfile", "config/paper.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode != 0
    assert (
        f"config key 'training.C.negatives_run.path': input file not found: {run}. Obtain it from Zenodo record "
        "10952882" in result.stderr
    )
    assert "Also absent: 'teacher.permutations'" in result.stderr
    assert not (tmp_path / "logs").exists()  # no job ran
    assert candidates.exists()  # a present file is no job's output, so nothing deletes it


def test_the_slurm_profile_gives_training_jobs_the_cores_of_their_data_workers():
    # the SLURM executor's dry run does not print threads; the local executor plans with the profile's set-threads
    env = with_venv_path()
    result = subprocess.run(
        [SNAKEMAKE, "-n", "--profile", "workflow/profiles/slurm", "--executor", "local", "--cores", "16", "all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    threads = {}
    for job in result.stdout.split("\nrule ")[1:]:
        name = job.split(":", 1)[0]
        threads.setdefault(name, set()).add(int(re.search(r"threads: (\d+)", job).group(1)) if "threads:" in job else 1)
    assert threads["train"] == {8} and threads["rerank"] == {4} and threads["bm25_index"] == {2}
    # and nothing else is applied on top of it: Snakemake would add <Snakefile folder>/profiles/default, overriding it
    assert "workflow specific profile" not in result.stderr, result.stderr[:500]


def test_the_workstation_profile_runs_gpu_jobs_as_the_cluster_does(tmp_path):
    """Its GPU count is a resource, its retries and rerun triggers are the cluster's, its training and re-ranking
    jobs get the cluster's cores (planned on 16 cores: this machine has fewer)."""
    profiles = ROOT / "workflow" / "profiles"
    workstation = yaml.safe_load((profiles / "workstation" / "config.yaml").read_text())
    cluster = yaml.safe_load((profiles / "slurm" / "config.yaml").read_text())
    assert isinstance(workstation["resources"]["gpu"], int) and "executor" not in workstation
    for key in ("retries", "rerun-triggers", "rerun-incomplete", "keep-going", "set-threads"):
        assert workstation[key] == cluster[key], key
    copy_checkout(tmp_path)
    result = subprocess.run(
        [SNAKEMAKE, "-n", "--profile", "workflow/profiles/workstation", "--cores", "16", "all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=with_venv_path(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    threads = {}
    for job in result.stdout.split("\nrule ")[1:]:
        threads.setdefault(job.split(":", 1)[0], set()).add(
            int(re.search(r"threads: (\d+)", job).group(1)) if "threads:" in job else 1
        )
    assert threads["train"] == {8} and threads["rerank"] == {4}
    assert "workflow specific profile" not in result.stderr, result.stderr[:500]


def test_the_beir_companion_adds_seven_out_of_domain_sets_each_with_its_own_corpus(tmp_path):
    copy_checkout(tmp_path)
    result, counts = dry_run(tmp_path, "config/paper.yaml", "config/beir.yaml")
    # 4 + 7 test sets, 60 models (a job re-ranks both rankers' runs); a BM25 and a PLAID index per corpus (MS MARCO + 7)
    assert counts["rerank"] == str(60 * 11) and counts["bm25_index"] == counts["colbert_index"] == "8"
    # ir_datasets ids: five BEIR sets are their corpus's id (beir/nq), two are not (beir/quora/test, beir/quora)
    assert counts["prepare_dataset"] == str(6 + 5 + 2 * 2)
    for corpus in ("beir/trec-covid", "beir/dbpedia-entity", "beir/quora"):
        assert f"resources/ir_datasets/prepared/{corpus}.json" in result.stdout
    assert "resources/indexes/dbpedia-entity/colbert/colbertv2" in result.stdout
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    config["test_sets"].update(yaml.safe_load((ROOT / "config" / "beir.yaml").read_text())["test_sets"])
    from stagewise.config import corpora, out_of_domain

    validate_config(config)
    assert out_of_domain(config) == list(yaml.safe_load((ROOT / "config" / "beir.yaml").read_text())["test_sets"])
    assert corpora(config)["trec-covid"] == "beir/trec-covid" and corpora(config)["main"] == "msmarco-passage"


#: colbert-ir/colbertv2.0's artifact.metadata, the keys that shape an index: RAGatouille loads it from the hub and
#: asserts nbits 1, kmeans_niters 20 and doc_maxlen 180 (AnswerDotAI/RAGatouille, tests/test_trainer_loading.py)
COLBERTV2_METADATA = {"nbits": 1, "kmeans_niters": 20, "doc_maxlen": 180}


def test_the_paper_colbertv2_index_has_the_settings_docs_paper_says_the_release_got(paper):
    from colbert.infra import ColBERTConfig, Run

    from stagewise.first_stage.colbert import ColbertSettings, index_config

    # colbert-ai's Indexer: ColBERTConfig.from_existing(checkpoint's config, the given config, Run().config)
    checkpoint, run = ColBERTConfig.from_deprecated_args(COLBERTV2_METADATA)[0], Run().config
    # the release (create_baseline_run.py, ColBERTSearcher.__init__): paths and doc_maxlen=300, nothing else
    release = ColBERTConfig.from_existing(
        checkpoint,
        ColBERTConfig(
            root="indexes/colbert",
            index_name="msmarco-passage",
            index_path="indexes/colbert/msmarco-passage",
            index_root="indexes/colbert",
            doc_maxlen=300,
        ),
        run,
    )
    s = paper["rankers"]["colbertv2"]
    ours = ColBERTConfig.from_existing(checkpoint, index_config(ColbertSettings.from_config(s)), run)
    shaping = ("nbits", "kmeans_niters", "doc_maxlen", "query_maxlen", "dim", "index_bsize", "similarity")
    assert {k: getattr(ours, k) for k in shaping} == {k: getattr(release, k) for k in shaping}
    assert (release.nbits, release.kmeans_niters, release.doc_maxlen) == (1, 20, 300)
    assert s["query_maxlen"] == release.query_maxlen == 32  # our searches pass it; the release's come from the index
    row = deviation_table()["ColBERTv2 index"]
    for said in ("nbits 1", "kmeans_niters 20", "`doc_maxlen=300`"):
        assert said in row["release"], said
    assert "paper.yaml: 1, 20, 300" in row["key"]


_NO_DEFAULT = object()
#: each row of the deviation table (docs/paper.md): (config key, our default, paper.yaml's value) per key it names; rows
#: without a key name where their behaviour is tested instead
DEVIATION_KEYS = {
    "a training query without a positive in the negatives' pool": [("training.C.positive_policy", "add", "keep")],
    "weight decay": [(f"training.{s}.weight_decay_all", False, True) for s in "CD"],
    "validation split seed": [(f"training.{s}.validation_seed", None, 42) for s in "CD"],
    "validation queries": [(f"training.{s}.validation_split", "permutation", "train_test_split") for s in "CD"],
    "ColBERTv2 index": [
        ("rankers.colbertv2.nbits", 2, 1),
        ("rankers.colbertv2.kmeans_niters", 4, 20),
        ("rankers.colbertv2.doc_maxlen", 300, 300),
        ("rankers.colbertv2.kmeans", "auto", "auto"),
    ],
    "first-stage metrics (AP, recall)": [("evaluation.first_stage_depth", "rerank", "full")],
    "training length": [("training.C.epochs", 1, 1), ("training.D.epochs", 15, 15)],
    "model evaluated": "the model folder holds the weights of the last step (backbones.check_saved_model; "
    "tests/training/test_trainer.py, resumed training ends with the uninterrupted weights)",
    "stage-2 learning rate": [
        (
            "training.second_stage",
            {},
            {"C-D": [{"lr": 1.0e-8}, {"lr": 1.0e-5}], "D-C": [{"lr": 1.0e-8}, {"lr": 1.0e-5}]},
        )
    ],
    "re-ranking scores": [("rerank.head_precision", "fp32", "fp32")],  # ours kept: tests/test_rerank_wiring.py
    "RankGPT strings with a repeated id": [("teacher.repeated", "keep", "keep")],
    "D's query text": "tests/data/test_teacher.py: a teacher's query text is its candidates file's",
    "seeds": [("seeds", _NO_DEFAULT, [1, 2, 3, 4, 5])],
    "relevance threshold": [
        ("test_sets.devsmall.relevance_threshold", _NO_DEFAULT, 1),
        ("test_sets.dl19.relevance_threshold", _NO_DEFAULT, 2),
    ],
}


def _schema_default(path: str):
    from stagewise.schema import load_schema

    schema = load_schema()
    parts = path.split(".")
    if parts[0] == "rankers":  # a ranker's keys: its kind's definition
        node = schema["definitions"]["colbert_ranker"]["properties"][parts[2]]
    elif parts[0] == "test_sets":
        node = schema["definitions"]["test_set"]["properties"][parts[2]]
    else:
        node = schema
        for part in parts:
            node = node["properties"][part]
    return node.get("default", _NO_DEFAULT)


def test_every_row_of_the_deviation_table_names_a_tested_key(paper):
    rows = deviation_table()
    assert set(rows) == set(DEVIATION_KEYS)  # a new row needs its key checked here
    for detail, keys in DEVIATION_KEYS.items():
        row = rows[detail]
        if isinstance(keys, str):  # no key: the behaviour is fixed, and tested where the entry says
            assert row["key"].startswith("none"), detail
            continue
        for path, ours, released in keys:
            leaf = path.split(".")[-1]
            assert leaf in row["key"] or path.split(".")[0] in row["key"], (detail, path)
            assert _schema_default(path) == ours, (detail, path)
            value = paper
            for part in path.split("."):
                value = value[part]
            assert value == released, (detail, path, value)
