"""End-to-end: the real workflow on a tiny config, in a temporary folder, through Snakemake."""

import copy
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import ROOT, copy_checkout, with_venv_path

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
pytestmark = pytest.mark.slow


def copy_workflow(dest: Path, config: dict):
    copy_checkout(dest, ("workflow", "envs"))
    (dest / "config").mkdir()
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def snakemake(cwd, *args, timeout=1500):
    env = with_venv_path()
    return subprocess.run(
        [SNAKEMAKE, "--cores", "2", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def finished_workflow(tmp_path_factory):
    folder = tmp_path_factory.mktemp("workflow")
    copy_workflow(folder, yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text()))
    # the run-file ranker 'given': BM25's candidates in reverse order, as someone's existing run
    tests = ["test-a", "test-b"]
    result = snakemake(folder, *[f"results/runs/first_stage/bm25/{t}.run" for t in tests])
    assert result.returncode == 0, result.stderr[-4000:]
    (folder / "given").mkdir()
    for t in tests:
        text = (folder / "results" / "runs" / "first_stage" / "bm25" / f"{t}.run").read_text()
        lines = [line for line in text.splitlines() if not line.startswith("#")]  # without its provenance header
        given = [f"{q} Q0 {d} {r} {-float(s)} splade" for q, _, d, r, s, _ in map(str.split, lines)]
        (folder / "given" / f"{t}.run").write_text("\n".join(given) + "\n")
    result = snakemake(folder)
    assert result.returncode == 0, result.stderr[-4000:]
    return folder


def test_table_has_one_row_per_cell_and_metric_with_finite_values(finished_workflow):
    config = yaml.safe_load((finished_workflow / "config" / "config.yaml").read_text())
    table = pd.read_csv(finished_workflow / "results" / "tables" / "main.csv", keep_default_na=False)
    n_test, metrics = len(config["test_sets"]), ["ndcg@10", "mrr@10", "map", "recall@100"]
    n_cells = len(config["rankers"]) * len(config["rerankers"]) * len(config["schedules"]) * n_test
    assert len(table) == (n_cells + len(config["rankers"]) * n_test) * len(metrics)
    assert set(table["metric"]) == set(metrics)
    first_stage = table[table["schedule"] == "-"]
    assert len(first_stage) == len(config["rankers"]) * n_test * len(metrics)
    assert set(table["ranker"]) == {"bm25", "colbert", "given"}
    trained = table[table["schedule"] != "-"]
    assert set(trained["schedule"]) == {"C", "D", "C-D", "D-C"}
    assert (trained["n_seeds"] == len(config["seeds"])).all()
    for column in ("mean", "std"):
        assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in table[column])
    # a t interval over 2 seeds is wide (t = 12.7) and may leave [0, 1]; it must hold the mean
    assert all(math.isfinite(v) for v in table["ci_low"].tolist() + table["ci_high"].tolist())
    assert (table["ci_low"] <= table["mean"]).all() and (table["mean"] <= table["ci_high"]).all()
    assert set("".join(table["better_than"])) <= set("abcdf :electra")


def test_significance_tables_plots_and_an_offline_report(finished_workflow, tmp_path):
    tables = finished_workflow / "results" / "tables"
    significance = pd.read_csv(tables / "significance.csv")
    # per (ranker, reranker, test set, metric): 6 schedule pairs + 4 against the first stage
    assert len(significance) == 3 * 1 * 2 * 4 * 10
    assert (significance["p_corrected"] >= significance["p_value"]).all()
    assert set(significance["correction"]) == {"holm"}
    assert "| reranker | schedule | bm25 test-a | bm25 test-b |" in (tables / "main.md").read_text()
    assert "\\begin{tabular}" in (tables / "main.tex").read_text()
    for png in ("test-a.png", "test-b.png", "seed_spread.png"):
        assert (finished_workflow / "results" / "plots" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = snakemake(finished_workflow, "--report", str(tmp_path / "report.html"))
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    assert "significance.csv" in html and "seed_spread.png" in html


def test_every_model_gets_a_card_with_its_metrics(finished_workflow):
    card = (finished_workflow / "results" / "model_cards" / "electra" / "C-D" / "seed2.md").read_text()
    assert "# stagewise cross-encoder: schedule C-D" in card and "## Effectiveness" in card
    assert "| bm25 | test-a |" in card and "| colbert | test-b |" in card
    assert (finished_workflow / "results" / "models" / "electra" / "C-D" / "seed2" / "README.md").exists()


def test_long_jobs_report_progress_in_their_rule_logs(finished_workflow):
    logs = finished_workflow / "logs"
    training = (logs / "train" / "electra" / "C" / "seed1.log").read_text()
    assert re.search(r"training: 6 of 6 steps \(100%\), loss [\d.]+, lr 0.001, [\d.,]+ steps/s, ", training)
    reranking = "\n".join(p.read_text() for p in (logs / "rerank").rglob("*.log"))
    assert re.search(r"re-ranking: (\d+) of \1 pairs \(100%\), [\d.,]+ pairs/s", reranking)
    # colbert-ai's own prints (it writes progress with print) land in the rule's log, not in Snakemake's output
    colbert = (logs / "first_stage" / "colbert" / "index-main.log").read_text()
    assert "#>" in colbert, colbert[-2000:]
    assert "BM25 retrieval: " in (logs / "first_stage" / "bm25" / "test-a.log").read_text()


def test_models_are_hugging_face_folders_and_stage2_starts_from_stage1(finished_workflow):
    import json

    from transformers import AutoModelForSequenceClassification

    model = finished_workflow / "results" / "models" / "electra" / "C-D" / "seed1"
    AutoModelForSequenceClassification.from_pretrained(model)
    hparams = json.loads((model / "hparams.json").read_text())
    assert hparams["stage"] == "D" and hparams["init_model"].endswith("results/models/electra/C/seed1")


def test_runs_models_and_tables_carry_their_provenance(finished_workflow, capsys):
    import json

    from stagewise import provenance
    from stagewise.cli import main
    from stagewise.io import read_run

    results = finished_workflow / "results"
    run = results / "runs" / "rerank" / "bm25" / "electra" / "C-D" / "seed1" / "test-a.run"
    assert run.read_text().startswith("# ir_metadata.start\n") and read_run(run)  # a header the reader skips
    main(["provenance", "--json", str(run)])
    record = json.loads(capsys.readouterr().out)
    method = record["method"]
    assert record["tag"] == "electra-C-D-seed1" and method["rule"] == "rerank"
    assert (method["ranker"], method["reranker"], method["schedule"], method["seed"]) == ("bm25", "electra", "C-D", "1")
    assert record["data"]["test collection"]["name"] == "test-a"
    assert record["platform"]["software"]["libraries"]["python"]["torch"] and record["implementation"]["source"]
    model = results / "models" / "electra" / "C-D" / "seed1"
    assert method["model_fingerprint"] == provenance.model_fingerprint(model)
    trained = json.loads((model / "provenance.json").read_text())
    assert trained["method"]["model_fingerprint"] == method["model_fingerprint"]
    assert trained["method"]["config_hash"] == method["config_hash"]  # one config for the whole grid
    assert (trained["method"]["rule"], trained["method"]["stage"], trained["method"]["seed"]) == ("train", "D", 1)
    bm25 = provenance.read(results / "runs" / "first_stage" / "bm25" / "test-a.run")
    assert bm25["tag"] == "bm25" and bm25["method"]["config_hash"] == method["config_hash"]
    tables = provenance.read(results / "tables")["files"]
    assert {"main.csv", "main.md", "significance.csv"} <= set(tables)
    assert tables["main.csv"]["method"]["rule"] == "main_table"


def test_a_second_stage_setting_reaches_the_second_stage_optimizer_only(finished_workflow):
    import json

    models = finished_workflow / "results" / "models" / "electra"
    for schedule, lr, steps in [("C", 1e-3, 6), ("D", 1e-3, 6), ("C-D", 2e-4, 4), ("D-C", 1e-3, 6)]:
        log = pd.read_csv(models / schedule / "seed1" / "training_log.csv")
        applied = log["lr"].dropna()
        # Lightning logs the value as a float32
        assert len(applied) == steps and all(v == pytest.approx(lr, rel=1e-6) for v in applied), (schedule, applied)
        assert json.loads((models / schedule / "seed1" / "hparams.json").read_text())["steps"] == steps


def test_per_test_set_thresholds_reach_the_evaluation(finished_workflow):
    from stagewise.data import datasets
    from stagewise.evaluation.metrics import per_query_metrics
    from stagewise.io import read_run

    metrics = pd.read_csv(finished_workflow / "results" / "metrics" / "first_stage" / "bm25.tsv", sep="\t")
    run = read_run(finished_workflow / "results" / "runs" / "first_stage" / "bm25" / "test-b.run")
    qrels = datasets.qrels(f"local:{finished_workflow}/resources/datasets/synthetic/test-b")
    for threshold, expected in [(1, True), (2, False)]:
        mrr = per_query_metrics(qrels, run, ["mrr@10"], threshold, depth=30)["value"].mean()
        ours = metrics[(metrics.dataset == "test-b") & (metrics.metric == "mrr@10")]["value"].mean()
        assert (ours == pytest.approx(mrr)) == expected, (threshold, ours, mrr)


def test_only_real_changes_rerun_training(finished_workflow):
    """Each training job's params hold what its own stage reads: a teacher change retrains the D stages only;
    where a file comes from and how often checkpoints are written retrain nothing."""
    config = yaml.safe_load((finished_workflow / "config" / "config.yaml").read_text())

    def planned(change):
        changed = {**copy.deepcopy(config), "standalone": True}
        change(changed)
        (finished_workflow / "config" / "changed.yaml").write_text(yaml.safe_dump(changed))
        result = snakemake(finished_workflow, "-n", "models", "--configfile", "config/changed.yaml")
        assert result.returncode == 0, result.stderr[-2000:]
        return sorted(set(re.findall(r"schedule=([CD-]+), seed=", result.stdout)))

    assert planned(lambda c: c["teacher"].update(source="a mirror")) == []
    assert planned(lambda c: c["training"]["C"].update(checkpoint_every=2)) == []
    assert planned(lambda c: c["teacher"].update(ranking_size=None)) == ["C-D", "D", "D-C"]  # C-D's D stage, not C
    assert planned(lambda c: c["training"]["second_stage"]["C-D"].update(lr=1.0e-4)) == ["C-D"]


def test_second_invocation_has_nothing_to_do(finished_workflow):
    result = snakemake(finished_workflow, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_malformed_run_stops_with_file_and_line_and_leaves_no_output(finished_workflow, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(finished_workflow, folder, symlinks=True)
    run = folder / "results" / "runs" / "first_stage" / "bm25" / "test-a.run"
    lines = run.read_text().splitlines()
    lines[2] = "q1 Q0 broken"
    run.write_text("\n".join(lines) + "\n")
    result = snakemake(folder, "--force", "results/metrics/first_stage/bm25.tsv")
    assert result.returncode != 0
    log = (folder / "logs" / "evaluate" / "first_stage" / "bm25.log").read_text()
    assert "test-a.run:3: expected 6 columns" in log
    assert not (folder / "results" / "metrics" / "first_stage" / "bm25.tsv").exists()


def test_run_file_ranker_is_the_given_run_and_a_malformed_line_stops_it(finished_workflow, tmp_path):
    from stagewise.io import read_run

    given = read_run(finished_workflow / "given" / "test-a.run")
    imported = read_run(finished_workflow / "results" / "runs" / "first_stage" / "given" / "test-a.run")
    assert imported == given
    folder = tmp_path / "copy"
    shutil.copytree(finished_workflow, folder, symlinks=True)
    run = folder / "given" / "test-b.run"
    lines = run.read_text().splitlines()
    lines[4] = "q1 Q0 d1 1"
    run.write_text("\n".join(lines) + "\n")
    result = snakemake(folder, "results/metrics/first_stage/given.tsv")
    assert result.returncode != 0
    log = (folder / "logs" / "first_stage" / "given" / "test-b.log").read_text()
    assert "given/test-b.run:5: expected 6 columns" in log
    assert not (folder / "results" / "runs" / "first_stage" / "given" / "test-b.run").exists()


def test_bad_config_stops_before_any_job_naming_the_key(tmp_path):
    config = yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text())
    config["training"]["C"]["lr"] = "1e-3"
    copy_workflow(tmp_path, config)
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert "'training.C.lr': '1e-3' is not of type 'number'" in result.stdout + result.stderr


def test_a_config_file_with_a_key_given_twice_stops_the_dry_run(tmp_path):
    copy_workflow(tmp_path, yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text()))
    text = (ROOT / "tests" / "data" / "tiny_config.yaml").read_text()
    (tmp_path / "config" / "mine.yaml").write_text(text.replace("seeds: [1, 2]\n", "seeds: [1, 2]\nseeds: [3]\n"))
    result = snakemake(tmp_path, "-n", "--configfile", "config/mine.yaml")
    assert result.returncode != 0
    assert (
        "mine.yaml" in result.stdout + result.stderr
        and "config key 'seeds' is given twice" in result.stdout + result.stderr
    )
