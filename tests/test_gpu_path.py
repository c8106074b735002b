"""benchmarks/gpu_path.py, the GPU issue's one prepared command, at its tiny size on the CPU: every part runs
through the project's own code and records numbers that say what they should (its logic is tested before a device
minute is spent), and the wheel list it needs there installs for CPython 3.12."""

import json
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_path.py"),
            "--tiny",
            "--out",
            str(out),
            "--work",
            str(tmp_path_factory.mktemp("work")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    return json.loads((out / "gpu_path.json").read_text()), result.stdout, (out / "gpu_path.log").read_text()


def test_every_part_runs_and_the_table_comes_last(tiny_run):
    summary, stdout, log = tiny_run
    assert list(summary["parts"]) == ["versions", "train", "resume", "rerank", "colbert_warm", "colbert"]
    for part, data in summary["parts"].items():
        assert data["exit"] == 0, (part, log[-3000:])
        errors = {k: v["error"] for k, v in data.items() if isinstance(v, dict) and "error" in v}
        assert not errors, (part, errors)
    assert stdout.splitlines()[-1].startswith("  ")  # the table's last measurement line ends the output
    assert summary["parts"]["versions"]["versions"]["transformers"].startswith("4.57.6 (")  # version (where)


def test_training_is_timed_through_the_projects_path_and_the_hand_loop(tiny_run):
    train = tiny_run[0]["parts"]["train"]
    for stage in ("C", "D"):
        ours, hand = train[f"stagewise_{stage}"], train[f"hand_{stage}"]
        assert ours["steps_measured"] >= 1 and ours["steps_per_second"] > 0 and hand["tokens_per_second"] > 0
        assert 0 <= ours["between_micro_batches_share"] < 1 and 0 <= ours["padding_share"] < 1
        assert ours["micro_batches"] == ours["steps_measured"] * 2  # 2 accumulated micro-batches a step
    assert train["stagewise_C"]["shape"].startswith("2 queries x 8 passages")  # 1 positive + 7 negatives
    grid = train["paper_grid"]
    assert grid["optimizer_steps"] == {"C": 31120, "D": 41670}
    assert grid["gpu_hours_per_cell"]["C-D"] == grid["gpu_hours_per_cell"]["D"]  # stage 2 only: C is reused


def test_a_resumed_training_equals_an_uninterrupted_one_on_this_machine(tiny_run):
    resume = tiny_run[0]["parts"]["resume"]
    assert resume["interrupted"]["attempts"] == 2 and "SIGTERM" in resume["interrupted"]["stopped"]
    assert resume["two_uninterrupted_runs"]["equal"] and resume["resumed_vs_uninterrupted"]["equal"]
    assert resume["resumed_vs_uninterrupted"]["tensors"] > 10


def test_re_ranking_counts_ties_and_the_fp32_head_stays_closer_to_fp32(tiny_run):
    rerank = tiny_run[0]["parts"]["rerank"]
    assert rerank["electra_fp32head_b16"]["pairs_per_second"] > 0
    assert rerank["electra_bf16_b16"]["tied_top10_entries"] > rerank["electra_fp32head_b16"]["tied_top10_entries"]
    against = rerank["scores_vs_fp32"]
    assert against["fp32_head"]["mean_abs_difference"] < against["bf16_head"]["mean_abs_difference"]


def test_colbert_indexes_and_searches(tiny_run):
    colbert = tiny_run[0]["parts"]["colbert"]["index_and_search"]
    assert colbert["passages"] == 1500 and colbert["queries"] == 10 and colbert["mean_results_per_query"] > 0


def test_the_wheels_install_for_python_3_12_at_the_pinned_versions(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu_wheels

    pins = gpu_wheels.pins()
    requirements = dict(
        line.split("==")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert all(pins[name] == requirements[name] for name in gpu_wheels.FROM_REQUIREMENTS)
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_wheels.py"), "--dest", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    installed = gpu_wheels.check(tmp_path)
    assert {"transformers", "tokenizers", "huggingface_hub", "colbert_ai", "faiss_cpu", "jsonschema"} <= set(installed)
