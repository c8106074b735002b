"""The paper's grid (config/paper.yaml) plans on a machine without its data or checkpoints, and reproduces the
released code's settings."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stagewise.config import relevance_thresholds, stage_settings, validate_config

from .conftest import ROOT, copy_checkout, with_venv_path

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture(scope="module")
def paper():
    return validate_config(yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()))


def test_paper_config_reproduces_the_released_details(paper):
    c, d = paper["training"]["C"], paper["training"]["D"]
    assert (c["negatives"], c["negatives_depth"], c["positive_policy"]) == (99, 200, "keep")
    assert c["negatives_run"]["path"].endswith("__colbert__msmarco-passage-train-judged.run")
    assert "10952882" in c["negatives_run"]["source"]
    assert (c["queries_per_batch"], c["accumulate_grad_batches"], d["queries_per_batch"], d["accumulate_grad_batches"]) == (4, 4, 16, 2)
    for stage in (c, d):
        assert (stage["lr"], stage["weight_decay"], stage["warmup_steps"], stage["gradient_clip_val"]) == (1e-5, 0.01, 0, 10.0)
        assert stage["max_length"] == 256 and stage["freeze_position_embeddings"] and stage["validation_fraction"] == 0.01
        assert stage["weight_decay_all"] and stage["validation_seed"] == 42
    assert (c["loss"], d["loss"], d["epochs"]) == ("lce", "ranknet", 15)
    teacher = paper["teacher"]
    assert (teacher["ranking_size"], teacher["malformed"], teacher["repeated"]) == (20, "drop", "keep")
    # the second stage: the stage's own section with the release's optimizer_s2.yaml learning rate
    assert stage_settings(paper, "C-D") == {**d, "lr": 6.0e-12}
    assert stage_settings(paper, "D-C") == {**c, "lr": 6.0e-12}
    assert stage_settings(paper, "D") == d
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


def test_paper_grid_dry_run_lists_40_trainings_320_rerankings_and_no_training_retrieval(tmp_path):
    copy_checkout(tmp_path)  # a clean checkout: no results, no teacher files
    env = with_venv_path()
    result = subprocess.run([SNAKEMAKE, "-n", "--configfile", "config/paper.yaml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert counts["train"] == "40" and counts["rerank"] == "320"
    # the two teacher files and the ColBERTv2 training run are the user's: no job makes them, the dry run says where
    # to get them (a run stops before any job)
    for key in ("teacher.candidates", "teacher.permutations", "training.C.negatives_run.path"):
        assert f"config key '{key}': input file not found: " in result.stdout
    assert "Obtain it from Zenodo record 10952882" in result.stdout and "external_file" not in counts
    assert counts["colbert_retrieve"] == counts["bm25_retrieve"] == "4"  # the four test sets, not the training queries
    assert "dataset=train" not in result.stdout
    stage2 = re.findall(r"wildcards: reranker=\w+, schedule=(C-D|D-C), seed=\d", result.stdout)
    assert len(stage2) == 20
    assert counts["vs_reference"] == "1"
    # prepared once on the submitting host: six ir_datasets ids (corpus, training queries, four test sets) and three
    # hub checkpoints; every other job reads them offline from resources/
    assert (counts["prepare_dataset"], counts["download_checkpoint"]) == ("6", "3")
    assert "resources/hub/google/electra-base-discriminator" in result.stdout
    assert "resources/ir_datasets/prepared/msmarco-passage/dev/small.json" in result.stdout


def test_an_absent_download_stops_the_run_before_any_job_saying_where_to_get_it_and_a_present_one_is_left_alone(
        tmp_path):
    copy_checkout(tmp_path)
    candidates = tmp_path / "resources" / "teacher" / "rankgpt" / "marco-train-100k.jsonl"
    candidates.parent.mkdir(parents=True)
    candidates.write_text('{"query_id": "1", "query": "q", "retrieved_passages": []}\n')
    env = with_venv_path()
    run = "resources/training/colbertv2/__colbert__msmarco-passage-train-judged.run"
    result = subprocess.run([SNAKEMAKE, "resources/training/candidates", "--cores", "1", "--configfile",
                             "config/paper.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode != 0
    assert f"config key 'training.C.negatives_run.path': input file not found: {run}. Obtain it from Zenodo record " \
           "10952882" in result.stderr
    assert "Also absent: 'teacher.permutations'" in result.stderr
    assert not (tmp_path / "logs").exists()  # no job ran
    assert candidates.exists()  # a present file is no job's output, so nothing deletes it


def test_the_slurm_profile_gives_training_jobs_the_cores_of_their_data_workers():
    # the SLURM executor's dry run does not print threads; the local executor plans with the profile's set-threads
    env = with_venv_path()
    result = subprocess.run([SNAKEMAKE, "-n", "--profile", "workflow/profiles/slurm", "--executor", "local",
                             "--cores", "16", "all"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    threads = {}
    for job in result.stdout.split("\nrule ")[1:]:
        name = job.split(":", 1)[0]
        threads.setdefault(name, set()).add(int(re.search(r"threads: (\d+)", job).group(1))
                                            if "threads:" in job else 1)
    assert threads["train"] == {8} and threads["rerank"] == {4} and threads["bm25_index"] == {2}
    # and nothing else is applied on top of it: Snakemake would add <Snakefile folder>/profiles/default, overriding it
    assert "workflow specific profile" not in result.stderr, result.stderr[:500]


def test_the_beir_companion_adds_seven_out_of_domain_sets_each_with_its_own_corpus(tmp_path):
    copy_checkout(tmp_path)
    result = subprocess.run([SNAKEMAKE, "-n", "--configfile", "config/paper.yaml", "config/beir.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=180, env=with_venv_path())
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    # 4 + 7 test sets, 40 models, two rankers; a BM25 and a PLAID index per corpus (MS MARCO + 7)
    assert counts["rerank"] == str(40 * 2 * 11) and counts["bm25_index"] == counts["colbert_index"] == "8"
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
