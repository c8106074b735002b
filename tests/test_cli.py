import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_user_errors_end_in_one_line_naming_the_argument_and_exit_2(tmp_path):
    run("synthetic", "data", "--seed", "2", "--passages", "400", cwd=tmp_path)
    (tmp_path / "r.run").write_text("0 Q0 d1 1 1.0 t\n")
    cases = [
        (["evaluate", "r.run", "local:data/test-a", "--metrics", "ndcg@11"], "invalid choice: 'ndcg@11'"),
        (["evaluate", "r.run", "msmarco-passage/trec-dl-2042"], "msmarco-passage/trec-dl-2042: not an ir_datasets id"),
        (["evaluate", "missing.run", "local:data/test-a"], "missing.run: file not found"),
        (["retrieve", "no-index", "local:data/test-a", "out.run"], "no-index: index folder (argument index) not found"),
        (["index", "local:nowhere", "index"], "nowhere: dataset folder not found"),
        (["rerank", "no-model", "r.run", "local:data/test-a", "local:data", "o.run"], "no-model: model folder"),
        (["train", "C", "no-model", "out", "--config", "none.yaml"], "none.yaml: config file (--config) not found"),
    ]
    for args, message in cases:
        result = subprocess.run([STAGEWISE, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1 and message in errors[0], (args, result.stderr[-2000:])
        assert "Traceback" not in result.stderr, args


@pytest.mark.parametrize(
    "argv, message",
    [
        (["rerank", "m", "r", "q", "c", "o", "--depth", "0"], "argument --depth: 0 is not at least 1"),
        (["rerank", "m", "r", "q", "c", "o", "--batch-size", "-4"], "argument --batch-size: -4 is not at least 1"),
        (["evaluate", "r", "q", "--relevance-threshold", "0"], "argument --relevance-threshold: 0 is not at least 1"),
        (["retrieve", "i", "q", "o", "--depth", "ten"], "argument --depth: 'ten' is not an integer"),
    ],
)
def test_meaningless_numbers_are_refused_with_the_argument_named(argv, message, capsys):
    from stagewise.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_evaluating_a_run_that_shares_no_query_with_the_qrels_stops(tmp_path):
    from stagewise.errors import EvaluationError
    from stagewise.evaluation.metrics import check_run_covers

    with pytest.raises(
        EvaluationError,
        match=r"x.run: the run ranks none of the 2 judged queries of test set dl19 "
        r"\(its queries: q7\); every metric would be 0",
    ):
        check_run_covers({"q7": {"d1": 1.0}}, {"q1": {"d1": 1}, "q2": {"d2": 2}}, "x.run", "dl19")
    with pytest.raises(EvaluationError, match="x.run: the run is empty"):
        check_run_covers({}, {"q1": {"d1": 1}}, "x.run", "dl19")


def test_qrels_that_judge_none_of_the_ranked_documents_stop_the_evaluation():
    from stagewise.errors import EvaluationError
    from stagewise.evaluation.metrics import check_run_covers

    run = {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d3": 1.0}}
    check_run_covers(run, {"q1": {"x9": 1, "d2": 0}}, "x.run", "scifact")  # one judged document ranked: fine
    with pytest.raises(
        EvaluationError,
        match=r"x.run: none of the documents the run ranks for the 2 judged queries "
        r"of test set scifact is judged in its qrels \(e.g. 'MED-10'\)",
    ):
        check_run_covers(run, {"q1": {"MED-10": 2}, "q2": {"MED-11": 1}}, "x.run", "scifact")
