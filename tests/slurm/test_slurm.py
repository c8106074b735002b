"""The workflow on a real SLURM (single node on localhost, two fake GPUs): `snakemake --profile slurm all`.

The cluster comes from tests/slurm/localslurm.py (root, Debian packages); without them these tests skip with the
reason. One SLURM run of a small grid carries three checks: a training job signalled with SIGTERM midway resumes
from its checkpoint on retry, a job failing once (STAGEWISE_FAULTS' fail_once: stagewise.training.faults) succeeds on
retry, and the final table equals a local run's; sacct then shows every training job with gres/gpu=1. A second run
shows that scancel stops the workflow with an error instead of leaving it waiting; a third, that files the user
provides survive a forced run.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from stagewise.training.faults import FAULTS_ENV

from ..conftest import ROOT
from ..test_workflow import copy_workflow
from . import localslurm

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(localslurm.problem()), reason=str(localslurm.problem()))]

# the tiny grid, BM25 only, one seed and one test set (every job is a SLURM job: each costs a submission and its
# polling); C trains long enough (20 steps, slowed in the SLURM run) to be signalled midway
TINY = yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text())
GRID = {
    **TINY,
    "rankers": {"bm25": {"kind": "bm25", "depth": 30}},
    "schedules": ["C", "D", "C-D"],
    "seeds": [1],
    "test_sets": {"test-b": TINY["test_sets"]["test-b"]},
}
GRID["training"]["C"] = {**GRID["training"]["C"], "steps": 20, "checkpoint_every": 3}
SIGNALLED, FAILING = "electra/C/seed1", "electra/D/seed1"
# the profile polls job states every 20 s at first (kind to a busy cluster); here 3 s keeps the test short
# and the profile's cores per training (8) and re-ranking (4) job are a GPU node's: on this 2-core machine one each
FAST_POLL = ["--slurm-init-seconds-before-status-checks", "3", "--set-threads", "train=1", "rerank=1"]


@pytest.fixture(scope="module")
def cluster():
    with localslurm.exclusive():  # one test module at a time on the cluster, however the suite is run
        started_here = not localslurm.running()
        env = localslurm.up()
        yield env
        if started_here:
            localslurm.down()


def test_the_local_cluster_comes_up_once_with_two_gpus(cluster):
    pids = {p.name: p.read_text() for p in (localslurm.STATE / "pids").glob("*.pid")}
    assert len(pids) == 5 and localslurm.running()
    localslurm.up()  # idempotent: the running daemons are kept
    assert {p.name: p.read_text() for p in (localslurm.STATE / "pids").glob("*.pid")} == pids
    node = subprocess.run(["scontrol", "show", "node", "localhost"], env=cluster, capture_output=True, text=True)
    assert "gres/gpu=2" in node.stdout


def workflow_copy(dest: Path, config: dict) -> Path:
    """The end-to-end test's copy of the workflow, plus the ./slurm link that `--profile slurm` finds."""
    dest.mkdir(parents=True, exist_ok=True)
    copy_workflow(dest, config)
    (dest / "slurm").symlink_to(os.readlink(ROOT / "slurm"))
    return dest


def start_snakemake(cwd, args, env):
    env = {**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
    log = open(Path(cwd) / "snakemake.out", "w")
    return subprocess.Popen([SNAKEMAKE, *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def output_of(cwd) -> str:
    return (Path(cwd) / "snakemake.out").read_text(errors="replace")


def wait(process, timeout, cwd):
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired as late:
        process.kill()
        raise AssertionError(f"snakemake did not finish within {timeout} s:\n{output_of(cwd)[-4000:]}") from late


def squeue_jobs(env) -> list[tuple[str, str, str]]:
    """(job id, state, comment) of every job SLURM still knows; the comment names the rule and wildcards."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%k"], env=env, capture_output=True, text=True)
    return [tuple(line.split("|", 2)) for line in out.stdout.splitlines() if line.count("|") == 2]


def job_comment(cell: str) -> str:
    reranker, schedule, seed = cell.split("/")
    return f"rule_train_wildcards_{reranker}_{schedule}_{seed.removeprefix('seed')}"


def running_job(env, comment, deadline, process, cwd) -> str:
    while time.monotonic() < deadline:
        for job, state, text in squeue_jobs(env):
            if text == comment and state == "RUNNING":
                return job
        if process.poll() is not None:
            raise AssertionError(f"snakemake ended before {comment} ran:\n{output_of(cwd)[-4000:]}")
        time.sleep(0.5)
    raise AssertionError(f"{comment} never ran:\n{output_of(cwd)[-3000:]}")


@pytest.fixture(scope="module")
def slurm_and_local(cluster, tmp_path_factory):
    """The grid through SLURM (with a signal and an injected failure) and locally, same seeds."""
    folder = workflow_copy(tmp_path_factory.mktemp("slurm"), GRID)
    started = time.monotonic()
    faults = {**cluster, FAULTS_ENV: json.dumps({"fail_once": [FAILING], "step_seconds": 0.4})}
    process = start_snakemake(folder, ["--profile", "slurm", "all", *FAST_POLL], faults)
    # the local run meanwhile (the SLURM run mostly waits for its polls): same grid and seeds, no faults
    local = workflow_copy(tmp_path_factory.mktemp("local"), GRID)
    local_run = start_snakemake(local, ["--cores", "2", "all"], dict(os.environ))
    try:
        job, slurm_seconds = _signal_and_finish(cluster, process, folder, started)
        assert wait(local_run, 1500, local) == 0, output_of(local)[-4000:]
    finally:
        if local_run.poll() is None:
            local_run.kill()
    print(f"SLURM run: {slurm_seconds:.0f} s")
    return folder, local, job


def _signal_and_finish(cluster, process, folder, started) -> tuple[str, float]:
    """SIGTERM the C training once it has a checkpoint, then wait for the SLURM run to succeed: the signalled job's
    id and the run's seconds."""
    # SIGTERM to the running C training once its first checkpoint (step 3 of 20) exists: what SLURM sends at
    # preemption or, with --signal=TERM@<s>, ahead of the time limit
    job = running_job(cluster, job_comment(SIGNALLED), time.monotonic() + 600, process, folder)
    ckpt = folder / "resources" / "checkpoints" / SIGNALLED / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not ckpt.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ckpt.exists(), output_of(folder)[-3000:]
    subprocess.run(["scancel", "--signal=TERM", job], env=cluster, check=True)
    assert wait(process, 1500, folder) == 0, output_of(folder)[-6000:]
    return job, time.monotonic() - started


def test_the_grid_through_slurm_gives_the_local_table(slurm_and_local):
    folder, local, _ = slurm_and_local
    ours = pd.read_csv(folder / "results" / "tables" / "main.csv", keep_default_na=False)
    theirs = pd.read_csv(local / "results" / "tables" / "main.csv", keep_default_na=False)
    assert len(ours) == 1 * (1 + 3) * 4  # test sets x (first stage + 3 schedules) x metrics
    pd.testing.assert_frame_equal(ours, theirs)
    for name in ("significance.csv", "main.md"):
        assert (folder / "results" / "tables" / name).read_text() == (local / "results" / "tables" / name).read_text()


def test_training_jobs_ran_with_one_gpu_each(slurm_and_local, cluster):
    folder, _, job = slurm_and_local
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-1day", "-o", "JobID,State,AllocTRES,Comment,JobName"],
        env=cluster,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("|") for line in out.splitlines()]
    run = next(r[4] for r in rows if r[0] == job)  # the job name is the Snakemake run's id
    rows = [r for r in rows if r[4] == run]
    trained = {c for c in (f"electra/{s}/seed{n}" for s in GRID["schedules"] for n in GRID["seeds"])}
    for cell in trained:
        jobs = [r for r in rows if r[3] == job_comment(cell)]
        assert jobs, f"sacct has no job for {cell}:\n{out}"
        assert all("gres/gpu=1" in r[2] for r in jobs), jobs
        assert jobs[-1][1] == "COMPLETED", jobs
    # the signalled and the failing cell each ran twice: a FAILED attempt, then a COMPLETED one
    for cell in (SIGNALLED, FAILING):
        assert [r[1] for r in rows if r[3] == job_comment(cell)] == ["FAILED", "COMPLETED"], out
    # CPU-only rules do not ask for a GPU
    assert all("gres/gpu" not in r[2] for r in rows if r[3].startswith("rule_bm25"))


def test_cosmetic_changes_do_not_retrain(slurm_and_local, cluster):
    """The profile's rerun triggers: a `git pull` (scripts newer than outputs), touched run/teacher/data files
    and an edited report setting do not redo training or re-ranking."""
    folder, _, _ = slurm_and_local
    later = time.time() + 60
    touched = [
        *(folder / "workflow" / "scripts").glob("*.py"),
        *(folder / "results" / "runs").rglob("*.run"),
        *(folder / "resources" / "teacher").rglob("*"),
        *(folder / "resources" / "datasets").rglob("*.tsv"),
    ]
    for path in touched:
        os.utime(path, (later, later))
    env = {**cluster, "PATH": f"{Path(sys.executable).parent}:{cluster['PATH']}"}

    def dry_run(*args):
        result = subprocess.run(
            [SNAKEMAKE, "all", "--profile", "slurm", "-n", *args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    assert "Nothing to be done" in dry_run()
    config = yaml.safe_load((folder / "config" / "config.yaml").read_text())
    (folder / "digits.yaml").write_text(yaml.safe_dump({**config, "standalone": True, "report": {"digits": 4}}))
    jobs = dry_run("--configfile", "digits.yaml")
    assert "main_table" in jobs and "rule train:" not in jobs and "rule rerank:" not in jobs, jobs[-3000:]


def slurm_log(folder, cell, job="*") -> str:
    """The SLURM log of a failed job (the executor removes those of successful ones)."""
    reranker, schedule, seed = cell.split("/")
    logs = sorted((folder / "logs" / "slurm" / "rule_train").glob(f"{reranker}_{schedule}_{seed[4:]}/{job}.log"))
    assert len(logs) == 1, logs
    return logs[0].read_text()


def test_a_signalled_training_job_resumes_from_its_checkpoint(slurm_and_local):
    folder, _, job = slurm_and_local
    first = slurm_log(folder, SIGNALLED, job)  # Snakemake deletes the rule log before the retry
    assert "received SIGTERM: saving a checkpoint after the current step" in first
    stopped = int(first.split("stopped by SIGTERM after step ")[1].split()[0])
    assert 3 <= stopped < 20
    second = (folder / "logs" / "train" / f"{SIGNALLED}.log").read_text()
    assert (
        f"resuming from resources/checkpoints/{SIGNALLED}/checkpoints/last.ckpt at step {stopped} of 20 "
        "(attempt 2)" in second
    )
    model = folder / "results" / "models" / SIGNALLED
    assert json.loads((model / "hparams.json").read_text())["attempts"] == 2
    steps = pd.read_csv(model / "training_log.csv")["step"].dropna().astype(int)
    assert sorted(steps.unique()) == list(range(20))  # the step count continues, no gap, no repeat


def test_a_job_failing_once_succeeds_on_retry(slurm_and_local):
    folder, _, _ = slurm_and_local
    assert f"injected failure of {FAILING}" in slurm_log(folder, FAILING)
    assert "injected failure" not in (folder / "logs" / "train" / f"{FAILING}.log").read_text()
    assert (folder / "results" / "models" / FAILING / "hparams.json").exists()


def test_scancel_stops_the_workflow_with_an_error(cluster, slurm_and_local, tmp_path):
    """A cancelled job is resubmitted (retries: Snakemake cannot tell scancel from a node failure); cancelling
    every attempt makes the workflow end with an error, within a bound, instead of waiting forever. In a copy of
    the finished SLURM run without its C model (the jobs before training are done)."""
    import shutil

    folder = tmp_path / "cancel"
    shutil.copytree(slurm_and_local[0], folder, symlinks=True)
    shutil.rmtree(folder / "results" / "models" / "electra" / "C" / "seed1")
    slow = {**cluster, FAULTS_ENV: json.dumps({"step_seconds": 2.0})}
    process = start_snakemake(folder, ["--profile", "slurm", "results/models/electra/C/seed1", *FAST_POLL], slow)
    started, cancelled = time.monotonic(), set()
    while process.poll() is None and time.monotonic() - started < 900:
        for job, state, comment in squeue_jobs(cluster):
            if comment == job_comment("electra/C/seed1") and state in {"PENDING", "RUNNING"} and job not in cancelled:
                subprocess.run(["scancel", job], env=cluster, check=True)
                cancelled.add(job)
        time.sleep(0.5)
    code = wait(process, 60, folder)
    out = output_of(folder)
    assert code != 0 and len(cancelled) == 3, out[-4000:]  # the first attempt and the profile's 2 retries
    assert "CANCELLED" in out and "At least one job did not complete successfully" in out
    print(f"scancel test: {time.monotonic() - started:.0f} s")


def test_files_the_user_provides_survive_a_forced_run_on_the_cluster(cluster, tmp_path):
    """Issue 22: a teacher file and a negatives run older than every script, with every job forced through SLURM (the
    removed external_file rule, a local job on the submitting host, deleted them before running)."""
    from ..test_hand_obtained import user_files, user_grid

    folder, config = user_grid(tmp_path)
    before = user_files(folder, config)
    process = start_snakemake(folder, ["--profile", "slurm", "-F", "models", *FAST_POLL], cluster)
    code = wait(process, 900, folder)
    assert user_files(folder, config) == before
    assert code == 0, output_of(folder)[-4000:]
    assert (folder / "results" / "models" / "electra" / "D" / "seed1" / "config.json").exists()
