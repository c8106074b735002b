import json
import subprocess
import sys
from pathlib import Path

STAGEWISE = str(Path(sys.executable).with_name("stagewise"))


def run(*args, cwd):
    result = subprocess.run([STAGEWISE, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_command_line_runs_data_bm25_and_evaluation(tmp_path):
    run("synthetic", "data", "--seed", "2", "--passages", "400", cwd=tmp_path)
    run("index", "local:data", "index", cwd=tmp_path)
    run("retrieve", "index", "local:data/test-a", "bm25.run", "--depth", "20", cwd=tmp_path)
    metrics = json.loads(run("evaluate", "bm25.run", "local:data/test-a", cwd=tmp_path).strip().splitlines()[-1])
    assert set(metrics) == {"ndcg@10", "mrr@10", "map", "recall@100"}
    assert 0.0 < metrics["ndcg@10"] <= 1.0
