"""A model or run that a failed or killed job left missing: Snakemake plans nothing for it while the tables are newer
(it treats it as a deleted intermediate), so every invocation says so and how to rebuild it."""

import subprocess
import sys
from pathlib import Path

from .conftest import copy_checkout, with_venv_path

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def test_missing_models_and_runs_under_existing_tables_are_named_with_the_rebuild_command(tmp_path):
    copy_checkout(tmp_path)
    result = subprocess.run(
        [SNAKEMAKE, "-n", "results/tables/main.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=with_venv_path(),
    )
    assert result.returncode == 0 and "stagewise warning" not in result.stdout + result.stderr  # nothing built yet
    (tmp_path / "results" / "tables").mkdir(parents=True)
    (tmp_path / "results" / "tables" / "main.csv").write_text("ranker\n")  # tables from before, intermediates gone
    result = subprocess.run(
        [SNAKEMAKE, "-n", "results/tables/main.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=with_venv_path(),
    )
    output = result.stdout + result.stderr
    assert "stagewise warning: " in output and "models or runs of the grid are missing" in output
    assert "snakemake $(cat logs/missing-intermediates.txt)" in output
    listed = (tmp_path / "logs" / "missing-intermediates.txt").read_text().split()
    assert "results/models/electra/C/seed1" in listed and "results/runs/rerank/bm25/electra/C/seed1/test.run" in listed
