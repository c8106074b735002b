"""benchmarks/scale.py at a small scale: the MS MARCO-shaped data paths end to end, untimed (a regression test)."""

import subprocess
import sys

import pandas as pd
import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def test_the_rehearsal_runs_its_jobs_and_reports_their_memory(tmp_path):
    scale = "0.0005"
    folder = tmp_path / "rehearsal"  # a fresh folder: a cached one may hold stores of an older stagewise
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "scale.py"),
            "--scale",
            scale,
            "--folder",
            str(folder),
            "--results",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    log = (folder / "logs" / "train" / "tiny" / "D" / "seed1.log").read_text()
    assert "50 permutations" in log and "dropped" in log  # the RankGPT-layout teacher with its malformed strings
    meta = (folder / "resources" / "training" / "candidates" / "meta.json").read_text()
    assert '"queries": 251' in meta and '"depth": 200' in meta
    report = (tmp_path / f"scale-{scale}.md").read_text()
    for rule in ("doc_store", "training_candidates", "bm25_index", "bm25_retrieve", "train", "rerank"):
        assert f"| {rule} |" in report, rule
    table = pd.read_csv(folder / "results" / "tables" / "main.csv")
    assert {"devsmall", "dl19"} <= set(table["dataset"])
    devsmall = table[(table.dataset == "devsmall") & (table.metric == "mrr@10") & (table.schedule == "-")]
    assert devsmall["mean"].iloc[0] > 0  # binary qrels at threshold 1 count
