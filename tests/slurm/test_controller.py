"""The controller as a batch job (workflow/profiles/slurm/controller.sbatch) on the local SLURM of tests/slurm.

One folder, three controllers in turn, as a user resubmits them: A is cancelled with scancel while the training job
runs (it cancels its jobs and leaves no lock); B continues from A's outputs and is killed with SIGKILL (a dead
controller: its training job left running, the folder locked); C cancels B's leftover job, unlocks the folder and
runs the tiny grid to the end, resuming the training from its checkpoint. A fourth, submitted while C runs, refuses
to start. Every rule's job carries the run ID that one of the controllers' Snakemake printed: they were submitted
from inside the controllers' allocations. Skips without the local SLURM (see test_slurm.py).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from stagewise.training.faults import FAULTS_ENV

from . import localslurm
from .test_slurm import TINY, cluster, workflow_copy  # noqa: F401 (cluster: the module's fixture)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(localslurm.problem()), reason=str(localslurm.problem()))]

CONTROLLER = "workflow/profiles/slurm/controller.sbatch"
# the smallest grid: BM25, C, one seed, one test set; the training slowed (1 s a step) so that it runs while the
# controllers are cancelled and killed, with a checkpoint every 3 steps to resume from
GRID = {
    **TINY,
    "rankers": {"bm25": {"kind": "bm25", "depth": 30}},
    "schedules": ["C"],
    "seeds": [1],
    "test_sets": {"test-b": TINY["test_sets"]["test-b"]},
}
GRID["training"] = {**TINY["training"], "C": {**TINY["training"]["C"], "steps": 30, "checkpoint_every": 3}}
del GRID["training"]["second_stage"]
# Snakemake's options after the target, as a user passes config files: quick polling and one core per job here
ARGS = ["all", "--slurm-init-seconds-before-status-checks", "3", "--set-threads", "train=1", "rerank=1"]
TRAIN = "rule_train_wildcards_electra_C_1"
# finished before the training starts: a controller that started over would write them again
KEPT = [
    "resources/datasets/synthetic/docs.tsv",
    "resources/indexes/main/lucene",
    "results/runs/first_stage/bm25/train.run",
    "resources/training/candidates",
]


def submit(folder, env) -> str:
    env = {
        **env,
        "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",  # the activated virtualenv
        FAULTS_ENV: json.dumps({"step_seconds": 1.0}),
    }  # slowed training (stagewise.training.faults)
    out = subprocess.run(
        ["sbatch", "--parsable", CONTROLLER, *ARGS], cwd=folder, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().split(";")[0]


def state(env, job) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], env=env, capture_output=True, text=True
    ).stdout.strip()


def log_of(folder, job) -> str:
    path = Path(folder) / "logs" / "slurm" / "controller" / f"{job}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def run_id(folder, job) -> str:
    return log_of(folder, job).split("SLURM run ID: ")[1].split()[0]


def wait_for(what, ready, folder, job, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := ready():
            return result
        time.sleep(1)
    raise AssertionError(f"{what} did not happen within {timeout} s; controller {job}:\n{log_of(folder, job)[-4000:]}")


def ended(env, job) -> bool:
    return state(env, job) not in {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING"}


def jobs_of_run(env, run) -> list[tuple[str, str, str]]:
    """(job id, state, comment) of every job named after a Snakemake run ID: squeue for the jobs it knows (sacct has
    no comment before a job ends), sacct for the rest."""
    jobs = {}
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-1day", "-o", "JobID,State,Comment,JobName"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out += subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%T|%k|%j"], env=env, capture_output=True, text=True, check=True
    ).stdout
    for row in out.splitlines():
        job, status, comment, name = row.split("|")
        if name == run:
            jobs[job] = (job, status, comment)
    return list(jobs.values())


def training_running(env, run):
    return next(
        (job for job, status, comment in jobs_of_run(env, run) if comment == TRAIN and status == "RUNNING"), None
    )


def kill_hard(env, job):
    """SIGKILL to every process of the controller's batch step, as a node failure would end it."""
    out = subprocess.run(["scontrol", "listpids", job], env=env, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines()[1:]:
        os.kill(int(line.split()[0]), signal.SIGKILL)


def test_a_resubmitted_controller_continues_after_scancel_and_after_dying(cluster, tmp_path):  # noqa: F811
    started = time.monotonic()
    folder = workflow_copy(tmp_path / "grid", GRID)
    ckpt = folder / "resources" / "checkpoints" / "electra" / "C" / "seed1" / "checkpoints" / "last.ckpt"

    # A: cancelled with scancel while the training runs
    a = submit(folder, cluster)
    wait_for("A's Snakemake run", lambda: "SLURM run ID: " in log_of(folder, a), folder, a)
    run_a = run_id(folder, a)
    train_a = wait_for("A's training job", lambda: training_running(cluster, run_a), folder, a)
    kept = {path: (folder / path).stat().st_mtime_ns for path in KEPT}
    subprocess.run(["scancel", a], env=cluster, check=True)
    wait_for("A's end", lambda: ended(cluster, a), folder, a, timeout=120)
    log_a = log_of(folder, a)
    assert "controller: SIGTERM, cancelling the jobs" in log_a and f"controller {a}: snakemake exited" in log_a
    assert dict((j, s) for j, s, _ in jobs_of_run(cluster, run_a))[train_a].startswith("CANCELLED")
    assert not list((folder / ".snakemake" / "locks").glob("*"))  # it released its lock
    assert not (folder / ".snakemake" / "stagewise-controller").exists()

    # B: continues; killed (SIGKILL) once its training has written a checkpoint
    b = submit(folder, cluster)
    wait_for("B's Snakemake run", lambda: "SLURM run ID: " in log_of(folder, b), folder, b)
    run_b = run_id(folder, b)
    train_b = wait_for("B's training job", lambda: training_running(cluster, run_b), folder, b)
    since = time.time()
    wait_for("a checkpoint of B's training", lambda: ckpt.exists() and ckpt.stat().st_mtime > since, folder, b)
    kill_hard(cluster, b)
    wait_for("B's end", lambda: ended(cluster, b), folder, b, timeout=120)
    assert list((folder / ".snakemake" / "locks").glob("*"))  # a dead controller leaves its lock
    assert dict((j, s) for j, s, _ in jobs_of_run(cluster, run_b))[train_b] == "RUNNING"  # and its job

    # C: cancels B's leftover job, unlocks, runs to the end; D, submitted while C runs, refuses to start
    c = submit(folder, cluster)
    wait_for("C's Snakemake run", lambda: "SLURM run ID: " in log_of(folder, c), folder, c)
    d = submit(folder, cluster)
    wait_for("D's end", lambda: ended(cluster, d), folder, d, timeout=120)
    assert f"controller {c} is RUNNING in this folder: not starting a second one" in log_of(folder, d)
    wait_for("C's end", lambda: ended(cluster, c), folder, c, timeout=1500)
    log_c = log_of(folder, c)
    assert f"controller {c}: snakemake exited with status 0" in log_c, log_c[-4000:]
    assert f"controller {b} ended without cleaning up: cancelling the jobs of its run {run_b}" in log_c
    assert "Unlocked working directory." in log_c
    assert dict((j, s) for j, s, _ in jobs_of_run(cluster, run_b))[train_b].startswith("CANCELLED")

    # continued, not started over: what A finished was kept, and the training resumed from B's checkpoint
    assert {path: (folder / path).stat().st_mtime_ns for path in KEPT} == kept
    for log in (log_of(folder, b), log_c):
        planned = log.split("Job stats:")[1].split("Select jobs")[0]
        assert "synthetic_dataset" not in planned and "bm25_index" not in planned and "train " in planned
    assert (
        "resuming from resources/checkpoints/electra/C/seed1/checkpoints/last.ckpt at step"
        in (folder / "logs" / "train" / "electra" / "C" / "seed1.log").read_text()
    )
    table = pd.read_csv(folder / "results" / "tables" / "main.csv")
    assert len(table) == 1 * (1 + 1) * 4  # test sets x (first stage + C) x metrics
    # every rule's jobs were submitted by the controllers' Snakemake runs (named by their run IDs)
    rules = {
        comment.split("_wildcards")[0]
        for run in (run_a, run_b, run_id(folder, c))
        for _, _, comment in jobs_of_run(cluster, run)
    }
    assert {"rule_synthetic_dataset", "rule_bm25_index", "rule_train", "rule_rerank", "rule_main_table"} <= rules
    print(f"controller test: {time.monotonic() - started:.0f} s")
