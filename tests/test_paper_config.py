"""The paper's grid (config/paper.yaml) plans on a machine without its data or checkpoints."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from stagewise.config import validate_config

from .conftest import ROOT

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def test_paper_config_is_valid_and_reproduces_the_released_details():
    config = validate_config(yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()))
    c, d = config["training"]["C"], config["training"]["D"]
    assert (c["negatives"], c["negatives_depth"], c["negatives_ranker"], c["positive_policy"]) == (99, 200, "colbertv2", "add")
    assert (c["queries_per_batch"], c["accumulate_grad_batches"], d["queries_per_batch"], d["accumulate_grad_batches"]) == (4, 4, 16, 2)
    for stage in (c, d):
        assert (stage["lr"], stage["weight_decay"], stage["warmup_steps"], stage["gradient_clip_val"]) == (1e-5, 0.01, 0, 10.0)
        assert stage["max_length"] == 256 and stage["freeze_position_embeddings"] and stage["validation_fraction"] == 0.01
    assert (c["loss"], d["loss"], config["teacher"]["ranking_size"], config["teacher"]["malformed"]) == ("lce", "ranknet", 20, "drop")


def test_paper_grid_dry_run_lists_40_trainings_and_320_rerankings(tmp_path):
    for name in ("Snakefile", "workflow", "config"):  # a clean checkout: no results, no teacher files
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    result = subprocess.run([SNAKEMAKE, "-n", "--configfile", "config/paper.yaml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert counts["train"] == "40" and counts["rerank"] == "320"
    assert counts["teacher_files"] == "1"  # absent teacher files: a job that says where to get them
    stage2 = re.findall(r"wildcards: reranker=\w+, schedule=(C-D|D-C), seed=\d", result.stdout)
    assert len(stage2) == 20
