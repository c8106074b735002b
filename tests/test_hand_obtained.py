"""Files the user provides (teacher files, an existing training run, run files, local dataset folders, checkpoints):
no rule has one as its output, so Snakemake never deletes one, whatever the profile and the files' dates."""

import copy
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stagewise.config import validate_config
from stagewise.hand_obtained import absent_message, hand_obtained_inputs

from .conftest import ROOT, copy_checkout, with_venv_path

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text())
PAPER = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
#: a date before every script of the workflow, as wget, tar, `cp -p` or `rsync -a` of an older download leave it
LONG_AGO = 1_000_000_000  # 2001-09-09


def user_grid(folder: Path, data="downloads/data") -> tuple[Path, dict]:
    """The workflow with a grid that reads only files a user provides: a local dataset folder (``data``), a teacher
    run and a C training run, all dated before every script. C and D, one seed, BM25; two steps per stage."""
    from stagewise.data.synthetic import SyntheticSpec, write_dataset
    from stagewise.io import read_qrels

    copy_checkout(folder, ("workflow", "envs"))
    (folder / "slurm").symlink_to(os.readlink(ROOT / "slurm"))
    dataset = write_dataset(
        SyntheticSpec(seed=3, n_passages=400, n_topics=4, concepts_per_topic=10, splits={"train": 30, "test": 8}),
        folder / data,
    )
    docids = [line.split("\t")[0] for line in (dataset / "docs.tsv").read_text().splitlines()]
    rng = random.Random(0)
    (folder / "downloads").mkdir(exist_ok=True)
    for name, depth in (("teacher.run", 10), ("negatives.run", 20)):
        lines = [
            f"{q} Q0 {d} {rank} {100 - rank} given"
            for q in sorted(read_qrels(dataset / "train" / "qrels.txt"))
            for rank, d in enumerate(rng.sample(docids, depth), start=1)
        ]
        (folder / "downloads" / name).write_text("\n".join(lines) + "\n")
    config = {
        **{k: v for k, v in copy.deepcopy(TINY).items() if k != "synthetic"},
        "standalone": True,
        "corpus": f"local:{data}",
        "train_queries": f"local:{data}/train",
        "test_sets": {"test": f"local:{data}/test"},
        "teacher": {"run": "downloads/teacher.run", "depth": 8, "ranking_size": None, "source": "the teacher's page"},
        "rankers": {"bm25": {"kind": "bm25", "depth": 20}},
        "schedules": ["C", "D"],
        "seeds": [1],
    }
    training = config["training"]
    training.pop("second_stage")
    training["C"].update(
        steps=2, negatives_depth=20, negatives_run={"path": "downloads/negatives.run", "source": "the run's page"}
    )
    training["D"].update(steps=2)
    (folder / "config").mkdir()
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    for path in [*(folder / "downloads").rglob("*"), *(folder / data).rglob("*")]:
        os.utime(path, (LONG_AGO, LONG_AGO))
    assert all(p.stat().st_mtime > LONG_AGO for p in (folder / "workflow").rglob("*.py"))
    return folder, validate_config(config)


def user_files(folder: Path, config: dict) -> dict[str, tuple[bytes, float] | None]:
    """Content and modification time of every file the config names as the user's (None: deleted)."""
    found = {}
    for item in hand_obtained_inputs(config):
        path = folder / item.path
        found[item.path] = (path.read_bytes(), path.stat().st_mtime) if path.exists() else None
    return found


def snakemake(folder, *args, timeout=600):
    return subprocess.run(
        [SNAKEMAKE, *args], cwd=folder, capture_output=True, text=True, timeout=timeout, env=with_venv_path()
    )


def writers(path: str, planned: set[str]) -> list[str]:
    """The planned outputs that are ``path`` or a folder holding it."""
    path = os.path.normpath(path)
    return [p for p in planned if path == p or path.startswith(p + os.sep)]


def planned_paths(dry_run: str) -> set[str]:
    """The outputs and logs of every job a dry run plans (Snakemake deletes both before a job runs)."""
    return {
        os.path.normpath(p)
        for line in re.findall(r"^\s+(?:output|log): (.+)$", dry_run, flags=re.M)
        for p in line.split(", ")
    }


# -- which paths are the user's


def test_the_paper_grid_names_four_files_of_the_users_and_the_demo_none():
    paper = {i.key: i for i in hand_obtained_inputs(validate_config(copy.deepcopy(PAPER)))}
    assert set(paper) == {
        "teacher.candidates",
        "teacher.permutations",
        "training.C.negatives_run.path",
        "reference.file",
    }
    assert "10952882" in paper["training.C.negatives_run.path"].source
    assert "RankGPT" in paper["teacher.candidates"].source
    # the demo's data and teacher are made by rules of its synthetic section
    assert hand_obtained_inputs(validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))) == []


def test_every_path_a_config_names_is_the_users_unless_a_section_of_it_makes_the_path(tmp_path):
    checkpoint = tmp_path / "colbert-checkpoint"
    checkpoint.mkdir()

    def config(synthetic=True):
        c = {
            **copy.deepcopy(TINY),
            "corpus": "local:resources/datasets/synthetic",
            "test_sets": {
                "test-a": "local:resources/datasets/synthetic/test-a",
                "ood": {"dataset": "local:downloads/ood/test", "corpus": "local:downloads/ood"},
            },
            "rankers": {
                "bm25": {"kind": "bm25"},
                "colbert": {"kind": "colbert", "checkpoint": str(checkpoint)},
                "given": {"kind": "run", "runs": {"test-a": "downloads/a.run", "ood": "downloads/ood.run"}},
            },
            "reference": {"file": "downloads/reference.tsv"},
        }
        c["training"]["C"]["negatives_run"] = {"path": "downloads/train.run"}
        c["rerankers"]["minilm"] = {"pretrained": str(checkpoint)}
        if not synthetic:
            del c["synthetic"]
        return validate_config(c)

    found = {(i.key, i.path, i.folder) for i in hand_obtained_inputs(config())}
    assert found == {
        ("test_sets.ood.dataset", "downloads/ood/test/queries.tsv", False),
        ("test_sets.ood.dataset", "downloads/ood/test/qrels.txt", False),
        ("test_sets.ood.corpus", "downloads/ood/docs.tsv", False),
        ("rankers.colbert.checkpoint", str(checkpoint), True),
        ("rankers.given.runs.test-a", "downloads/a.run", False),
        ("rankers.given.runs.ood", "downloads/ood.run", False),
        ("training.C.negatives_run.path", "downloads/train.run", False),
        ("rerankers.minilm.pretrained", str(checkpoint), True),
        ("reference.file", "downloads/reference.tsv", False),
    }
    # without the synthetic section, its folders and the teacher's files are the user's too
    keys = {i.key for i in hand_obtained_inputs(config(synthetic=False))}
    assert {"corpus", "train_queries", "test_sets.test-a", "teacher.candidates", "teacher.permutations"} <= keys


def test_the_message_names_the_key_the_path_where_to_get_it_and_what_else_is_absent():
    items = {i.key: i for i in hand_obtained_inputs(validate_config(copy.deepcopy(PAPER)))}
    run, candidates = items["training.C.negatives_run.path"], items["teacher.candidates"]
    message = absent_message(run, [run, candidates])
    assert message.startswith(
        f"config key 'training.C.negatives_run.path': input file not found: {run.path}. "
        "Obtain it from Zenodo record 10952882"
    )
    assert "and place it at this path." in message
    assert message.endswith(f"Also absent: 'teacher.candidates' ({candidates.path}).")


# -- the workflow: no job writes them (planning), and they survive real runs


@pytest.mark.parametrize("profile", [None, "workflow/profiles/local", "workflow/profiles/workstation", "slurm"])
def test_no_job_of_a_forced_plan_writes_a_file_of_the_users(tmp_path, profile):
    """Every job of the DAG planned (--forceall) under each profile: none has a user's file, or a folder holding one,
    as an output or log. The SLURM profile plans with its own executor (a dry run needs no cluster)."""
    folder, config = user_grid(tmp_path, data="resources/datasets/synthetic")  # the demo's folder, no synthetic section
    before = user_files(folder, config)
    result = snakemake(folder, "-n", "-F", "all", *(["--profile", profile] if profile else ["--cores", "2"]))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    planned = planned_paths(result.stdout)
    assert any(p.startswith("results/models/") for p in planned) and "resources/training/candidates" in planned
    assert {path: writers(path, planned) for path in before if writers(path, planned)} == {}
    assert user_files(folder, config) == before


@pytest.mark.parametrize("profile", ["workflow/profiles/local", "slurm"])
def test_no_job_of_the_paper_grid_writes_its_downloads(tmp_path, profile):
    copy_checkout(tmp_path)
    (tmp_path / "slurm").symlink_to(os.readlink(ROOT / "slurm"))
    config = validate_config(copy.deepcopy(PAPER))
    downloads = [i.path for i in hand_obtained_inputs(config) if not (tmp_path / i.path).exists()]
    for path in downloads:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("downloaded\n")
        os.utime(tmp_path / path, (LONG_AGO, LONG_AGO))
    result = snakemake(tmp_path, "-n", "-F", "all", "--profile", profile, "--configfile", "config/paper.yaml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    planned = planned_paths(result.stdout)
    assert len(planned) > 700  # outputs and logs of the ~400 jobs
    assert {path: writers(path, planned) for path in downloads if writers(path, planned)} == {}
    assert all((tmp_path / path).read_text() == "downloaded\n" for path in downloads)


@pytest.mark.slow
def test_files_older_than_every_script_survive_a_run_with_the_local_profile(tmp_path):
    """`make demo`'s profile reruns a job whose output is older than its script: a rule that could write a user's
    file would delete it first."""
    folder, config = user_grid(tmp_path)
    before = user_files(folder, config)
    result = snakemake(folder, "--profile", "workflow/profiles/local", "models")
    assert user_files(folder, config) == before
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (folder / "results" / "models" / "electra" / "D" / "seed1" / "config.json").exists()


@pytest.mark.slow
def test_files_older_than_every_script_survive_a_forced_run_with_the_slurm_profile(tmp_path):
    """The SLURM profile's rerun triggers and retries, every job forced (-F); executed here by the local executor
    (the planning under the SLURM executor is checked above; tests/slurm runs the real cluster)."""
    folder, config = user_grid(tmp_path)
    before = user_files(folder, config)
    result = snakemake(folder, "--profile", "slurm", "--executor", "local", "--cores", "2", "-F", "models")
    assert user_files(folder, config) == before
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (folder / "results" / "models" / "electra" / "C" / "seed1" / "config.json").exists()


def test_an_absent_file_of_the_users_stops_a_run_before_any_job_and_a_dry_run_warns(tmp_path):
    folder, config = user_grid(tmp_path)
    (folder / "downloads" / "negatives.run").unlink()
    result = snakemake(folder, "--cores", "1", "models")
    assert result.returncode != 0
    assert (
        "config key 'training.C.negatives_run.path': input file not found: downloads/negatives.run. Obtain it "
        "from the run's page and place it at this path." in result.stderr
    )
    assert not (folder / "logs").exists() and not (folder / "resources").exists()  # no job ran
    result = snakemake(folder, "-n", "--cores", "1", "models")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "input file not found: downloads/negatives.run" in result.stdout
    assert "This dry run plans as if it were there; a run stops here." in result.stdout
    assert re.search(r"^training_candidates\s+1$", result.stdout, flags=re.M)


def test_a_config_naming_a_path_a_rule_writes_stops_before_any_job(tmp_path):
    folder, _ = user_grid(tmp_path)
    for value, where in [
        ("results/runs/first_stage/bm25/train.run", "results/runs/first_stage/bm25/train.run, "),
        (
            "resources/training/candidates/train.run",
            "resources/training/candidates/train.run, inside resources/training/candidates, ",
        ),
    ]:
        result = snakemake(
            folder, "-n", "--cores", "1", "--config", f'training={{"C": {{"negatives_run": {{"path": "{value}"}}}}}}'
        )
        assert result.returncode != 0
        assert f"config key 'training.C.negatives_run.path' names {where}which rule" in result.stdout + result.stderr
