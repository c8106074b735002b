"""One GPU per local job (stagewise.devices): which devices, exclusive holding, release when the holder dies; and,
through Snakemake, concurrent gpu=1 jobs of a small workflow on a machine that pretends to have four GPUs."""

import ast
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from stagewise import devices
from stagewise.devices import gpu_pool, hold_gpu, machine_gpus, parse_nvidia_smi, release_gpu

from .conftest import ROOT, with_venv_path

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

NVIDIA_SMI = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0f1c2b3a-aaaa-bbbb-cccc-000000000000)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-0f1c2b3a-aaaa-bbbb-cccc-000000000001)
"""
NVIDIA_SMI_MIG = """\
GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77)
  MIG 3g.20gb     Device  0: (UUID: MIG-c6d4f1ef-42e4-5de3-91c7-45d71c87eb3f)
  MIG 3g.20gb     Device  1: (UUID: MIG-cba663e8-9bed-5b25-b243-5985ef7c9beb)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-7a3a9ae4-8d1e-4b9a-b1d1-9e1c1e4c2f10)
"""


@pytest.fixture(autouse=True)
def nothing_held():
    yield
    release_gpu()


@pytest.fixture
def pretend(tmp_path):
    """An environment that pretends the machine has GPUs 0-3, with its own lock folder."""
    return {"STAGEWISE_GPUS": "0,1,2,3", "STAGEWISE_GPU_LOCK_DIR": str(tmp_path / "locks")}


def test_nvidia_smi_lists_gpus_by_index_and_mig_instances_by_uuid():
    assert parse_nvidia_smi(NVIDIA_SMI) == ("0", "1")
    assert parse_nvidia_smi(NVIDIA_SMI_MIG) == (
        "MIG-c6d4f1ef-42e4-5de3-91c7-45d71c87eb3f",
        "MIG-cba663e8-9bed-5b25-b243-5985ef7c9beb",
        "1",
    )
    assert parse_nvidia_smi("No devices were found\n") == ()


def test_the_device_list_comes_from_the_user_then_cuda_visible_devices_then_the_machine(tmp_path, monkeypatch):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "nvidia-smi").write_text(f"#!{sys.executable}\nprint({NVIDIA_SMI!r}, end='')\n")
    (fake_bin / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    assert gpu_pool({"STAGEWISE_GPUS": "2, 3", "CUDA_VISIBLE_DEVICES": "1"}).devices == ("2", "3")
    assert gpu_pool({"STAGEWISE_GPUS": "none"}).devices == gpu_pool({"STAGEWISE_GPUS": ""}).devices == ()
    assert gpu_pool({"CUDA_VISIBLE_DEVICES": "1,3"}) == devices.GpuPool(("1", "3"), "CUDA_VISIBLE_DEVICES")
    assert gpu_pool({"CUDA_VISIBLE_DEVICES": "-1"}).devices == ()
    assert gpu_pool({}) == devices.GpuPool(("0", "1"), "nvidia-smi -L")
    # without nvidia-smi: one folder per GPU in the driver's /proc entries, else none
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    proc = tmp_path / "proc"
    for bus in ("0000:41:00.0", "0000:01:00.0", "0000:81:00.0"):
        (proc / bus).mkdir(parents=True)
    assert machine_gpus(proc) == devices.GpuPool(("0", "1", "2"), str(proc))
    assert machine_gpus(tmp_path / "absent").devices == ()


def test_under_slurm_nothing_changes(pretend):
    env = {**pretend, "SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "1"}
    assert hold_gpu("job", environ=env) == "1"
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and not Path(pretend["STAGEWISE_GPU_LOCK_DIR"]).exists()
    env = {**pretend, "SLURM_JOB_ID": "43"}
    assert hold_gpu("job", environ=env) is None and "CUDA_VISIBLE_DEVICES" not in env


def test_without_gpus_nothing_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no nvidia-smi
    env = {"STAGEWISE_GPU_LOCK_DIR": str(tmp_path / "locks")}
    assert hold_gpu("job", environ=env, proc=tmp_path / "absent") is None
    assert "CUDA_VISIBLE_DEVICES" not in env


def test_a_job_holds_one_device_and_says_which(pretend, caplog):
    caplog.set_level("INFO", logger="stagewise.devices")
    assert hold_gpu("logs/train/x.log", environ=pretend) == "0"
    assert pretend["CUDA_VISIBLE_DEVICES"] == "0"
    assert "CUDA_DEVICE_ORDER" not in pretend  # a list the user gave keeps the user's numbering
    assert "GPU 0 of 0,1,2,3 (from STAGEWISE_GPUS): CUDA_VISIBLE_DEVICES=0 for this job" in caplog.text
    lock = Path(pretend["STAGEWISE_GPU_LOCK_DIR"]) / "gpu-0.lock"
    assert re.match(rf"pid {os.getpid()} on .* since .*: logs/train/x.log$", lock.read_text().strip())
    assert hold_gpu("again", environ=pretend) == "0"  # one device per process, however often it asks


def test_detected_gpus_are_numbered_as_nvidia_smi_numbers_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (tmp_path / "proc" / "0000:01:00.0").mkdir(parents=True)
    env = {"STAGEWISE_GPU_LOCK_DIR": str(tmp_path / "locks")}
    assert hold_gpu("job", environ=env, proc=tmp_path / "proc") == "0"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_a_late_call_after_cuda_is_initialised_is_refused(pretend, monkeypatch):
    torch = SimpleNamespace(cuda=SimpleNamespace(is_initialized=lambda: True))
    monkeypatch.setitem(sys.modules, "torch", torch)
    with pytest.raises(RuntimeError, match="after CUDA was initialised"):
        hold_gpu("job", environ=pretend)


HOLDER = """\
import sys, time
from stagewise.devices import hold_gpu
print(hold_gpu(sys.argv[1], poll_seconds=0.1), flush=True)
time.sleep(600)
"""


def start_holder(env, name):
    """Another process that holds a device until it is killed; returns it and the device it got."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, name], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True
    )
    return process, process.stdout.readline().strip()


def stop(process):
    process.kill()
    process.wait(timeout=30)


def test_devices_are_exclusive_between_processes(pretend):
    env = {**pretend, "STAGEWISE_GPUS": "0,1"}
    first, device = start_holder(env, "first")
    try:
        assert device == "0"
        assert hold_gpu("second", environ=dict(env)) == "1"
        # a third process: both devices held; the error names their holders
        third = subprocess.run(
            [sys.executable, "-c", "from stagewise.devices import hold_gpu; hold_gpu('third', timeout=0)"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
    finally:
        stop(first)
    assert third.returncode != 0
    assert re.search(
        r"TimeoutError: no free GPU within 0 s: GPU 0: pid \d+ on .*: first; GPU 1: pid "
        rf"{os.getpid()} on .*: second$",
        third.stderr.strip(),
    ), third.stderr


def test_a_killed_holders_device_is_free_at_once(pretend):
    env = {**pretend, "STAGEWISE_GPUS": "3"}
    holder, device = start_holder(env, "holder")
    assert device == "3"
    with pytest.raises(TimeoutError):
        hold_gpu("waiter", environ=dict(env), timeout=0)
    os.kill(holder.pid, signal.SIGKILL)  # no handler, no cleanup: the kernel drops the lock
    holder.wait(timeout=30)
    assert hold_gpu("next", environ=dict(env), timeout=5) == "3"


def test_a_waiting_job_gets_the_device_when_its_holder_ends(pretend, caplog):
    caplog.set_level("INFO", logger="stagewise.devices")
    env = {**pretend, "STAGEWISE_GPUS": "1"}
    holder, _ = start_holder(env, "holder")
    killer = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep(1.5); os.kill({holder.pid}, 9)"])
    try:
        assert hold_gpu("waiter", environ=dict(env), poll_seconds=0.1, timeout=60) == "1"
    finally:
        killer.wait(timeout=30)
        stop(holder)
    assert re.search(r"every GPU is held \(GPU 1: pid \d+ .*: holder\): waiting for one", caplog.text)
    assert re.search(r"CUDA_VISIBLE_DEVICES=1 for this job, after waiting \d+ s", caplog.text)


# -- the workflow's GPU rules call it first


def gpu_rule_scripts() -> dict[str, Path]:
    """rule name -> script of every rule that declares gpu=1."""
    scripts = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule \w+:)", smk.read_text()):
            if re.search(r"^\s+gpu=1,", block, re.M):
                name = re.match(r"rule (\w+):", block).group(1)
                scripts[name] = (smk.parent / re.search(r'script:\s+"([^"]+)"', block).group(1)).resolve()
    return scripts


def test_every_gpu_rule_holds_a_gpu_before_importing_anything_else():
    scripts = gpu_rule_scripts()
    assert set(scripts) == {"train", "rerank", "rerank_checkpoint", "colbert_index", "colbert_retrieve"}
    for rule, script in scripts.items():
        body = ast.parse(script.read_text()).body
        calls = [
            i
            for i, node in enumerate(body)
            if isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", None) == "hold_gpu"
        ]
        assert calls, f"{rule}: {script.name} does not call hold_gpu"
        before = {alias.name for node in body[: calls[0]] if isinstance(node, ast.ImportFrom) for alias in node.names}
        assert before <= {"hold_gpu", "to_file"}, (rule, before)  # nothing that could import torch comes first


#: Snakemake's wildcards: attributes, and items() as a mapping has them
WILDCARDS = {"reranker": "electra", "schedule": "C", "seed": "1"}


def test_the_rerank_script_runs_the_library_on_its_own_gpu(pretend, monkeypatch):
    """The rule's script, run as Snakemake runs it, with the library call replaced by a recorder of the device."""
    import runpy

    import stagewise.logs
    import stagewise.rerank

    for name, value in pretend.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    seen = []
    monkeypatch.setattr(
        stagewise.rerank, "rerank_files", lambda *a, **k: seen.append(os.environ["CUDA_VISIBLE_DEVICES"])
    )
    monkeypatch.setattr(stagewise.logs, "to_file", lambda *a, **k: None)
    snakemake = SimpleNamespace(
        log=["logs/rerank/x.log"],
        threads=1,
        output=["out.run"],
        input=SimpleNamespace(model="m", runs=["r"], get=lambda name, default=None: default),
        params=SimpleNamespace(
            settings=dict(depth=1, batch_size=1, max_length=8, head_precision="fp32"),
            queries="q",
            corpus="c",
            rankers=["bm25"],
        ),
        wildcards=SimpleNamespace(**WILDCARDS, items=WILDCARDS.items),
        config={},
        rule="rerank",
    )
    runpy.run_path(str(ROOT / "workflow" / "scripts" / "rerank.py"), init_globals={"snakemake": snakemake})
    assert seen == ["0"]


# -- through Snakemake: a small workflow of gpu=1 jobs on a machine that pretends to have four GPUs

SNAKEFILE = """\
rule all:
    input:
        expand("out/{job}.json", job=config["jobs"]),


rule gpu_job:
    output:
        "out/{job}.json",
    log:
        "logs/{job}.log",
    resources:
        gpu=1,
    script:
        "job.py"
"""

# each job: takes a GPU, says so, then keeps it until `hold_until` other jobs (or itself) hold one at the same time
# (a barrier that proves concurrency, with a bound), or until a file appears; `kill_when` makes it SIGKILL itself
JOB = """\
import json, os, signal, time
from pathlib import Path
from stagewise.devices import hold_gpu
from stagewise.logs import to_file

to_file(snakemake.log[0])
job, plan = snakemake.wildcards.job, snakemake.config["plan"].get(snakemake.wildcards.job, {})
for name in plan.get("after", []):  # start asking only once these jobs hold a device
    while not Path(f"held/{name}").exists():
        time.sleep(0.05)
device = hold_gpu(snakemake.log[0], poll_seconds=0.1)
start = time.time()
Path("held").mkdir(exist_ok=True)
Path(f"held/{job}").write_text(os.environ["CUDA_VISIBLE_DEVICES"])
if "kill_when" in plan:  # die holding the device, once these jobs hold theirs
    while not all(Path(f"held/{name}").exists() for name in plan["kill_when"]):
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)
deadline = time.time() + 60
while time.time() < deadline:
    if "until" in plan and Path(plan["until"]).exists():
        break
    if "until" not in plan and len(list(Path("held").iterdir())) >= snakemake.config["hold_until"]:
        break
    time.sleep(0.05)
time.sleep(0.5)
Path(snakemake.output[0]).write_text(json.dumps(
    {"device": device, "visible": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "end": time.time()}))
"""


def gpu_workflow(folder: Path, jobs, plan=None, hold_until=4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Snakefile").write_text(SNAKEFILE)
    (folder / "job.py").write_text(JOB)
    (folder / "config.yaml").write_text(yaml.safe_dump({"jobs": jobs, "plan": plan or {}, "hold_until": hold_until}))
    return folder


def run_snakemake(folder, gpus, *args):
    env = with_venv_path({**os.environ, "STAGEWISE_GPUS": gpus, "STAGEWISE_GPU_LOCK_DIR": str(folder / "locks")})
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env.pop("SLURM_JOB_ID", None)
    return subprocess.run(
        [SNAKEMAKE, "--configfile", "config.yaml", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def job_records(folder, jobs) -> dict:
    return {job: json.loads((folder / "out" / f"{job}.json").read_text()) for job in jobs}


def assert_one_job_per_device_at_a_time(records):
    for device in {r["device"] for r in records.values()}:
        spans = sorted((r["start"], r["end"]) for r in records.values() if r["device"] == device)
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), (device, records)


JOBS = ["a", "b", "c", "d", "e"]


@pytest.mark.slow
@pytest.mark.parametrize("limit", ["allocator", "snakemake"])
def test_four_gpu_jobs_run_on_four_devices_and_a_fifth_waits(tmp_path, limit):
    """Five gpu=1 jobs, four pretended GPUs. Without a gpu limit Snakemake starts all five and the fifth waits in the
    allocator; the workstation profile's `gpu: 4` makes Snakemake hold it back instead."""
    folder = gpu_workflow(tmp_path / "wf", JOBS)
    if limit == "snakemake":
        profile = folder / "profile"
        profile.mkdir()
        (profile / "config.yaml").write_text(
            (ROOT / "workflow" / "profiles" / "workstation" / "config.yaml").read_text()
        )
        args = ["--profile", str(profile), "--cores", "5"]  # the profile's gpu: 4; all 5 jobs would fit the cores
    else:
        args = ["--cores", "5"]
    result = run_snakemake(folder, "0,1,2,3", *args)
    assert result.returncode == 0, result.stderr[-4000:]
    records = job_records(folder, JOBS)
    assert all(r["visible"] == r["device"] for r in records.values())
    first_four = sorted(records.values(), key=lambda r: r["start"])[:4]
    assert sorted(r["device"] for r in first_four) == ["0", "1", "2", "3"]
    fifth = max(records.values(), key=lambda r: r["start"])
    assert fifth["start"] >= min(r["end"] for r in first_four)  # it got a device only once one was given back
    assert_one_job_per_device_at_a_time(records)
    logs = {job: (folder / "logs" / f"{job}.log").read_text() for job in JOBS}
    for job, record in records.items():
        assert f"GPU {record['device']} of 0,1,2,3 (from STAGEWISE_GPUS)" in logs[job]
    waited = [job for job in JOBS if "waiting for one" in logs[job]]
    if limit == "allocator":
        assert len(waited) == 1, logs  # Snakemake started all five; one waited for a device
    else:
        assert waited == [], logs  # Snakemake held the fifth back: no job had to wait for a device


@pytest.mark.slow
def test_a_killed_jobs_device_goes_to_the_next_job(tmp_path):
    """Two pretended GPUs: `killed` dies by SIGKILL holding one, `holder` keeps the other until `next` is done; `next`,
    asking once both are held, gets the killed job's device."""
    plan = {
        "killed": {"kill_when": ["holder"]},
        "holder": {"until": "out/next.json"},
        "next": {"after": ["killed", "holder"]},
    }
    folder = gpu_workflow(tmp_path / "wf", list(plan), plan, hold_until=3)
    result = run_snakemake(folder, "0,1", "--cores", "3", "--keep-going")
    assert result.returncode != 0  # the killed job failed
    assert "Error in rule gpu_job" in result.stderr and "out/killed.json" in result.stderr
    killed_device = (folder / "held" / "killed").read_text()
    records = job_records(folder, ["holder", "next"])
    assert records["next"]["device"] == killed_device != records["holder"]["device"]
    assert records["next"]["start"] < records["holder"]["end"]  # while the other device was still held
    log = (folder / "logs" / "next.log").read_text()
    assert f"CUDA_VISIBLE_DEVICES={killed_device} for this job" in log


def test_the_default_lock_folder_is_the_machines_not_the_jobs_tmpdir():
    # Snakemake gives each job TMPDIR from its tmpdir resource: jobs must meet in one folder whatever theirs is
    assert devices.lock_dir({"TMPDIR": "/scratch/job1"}) == devices.lock_dir({}) == Path("/tmp/stagewise-gpus")
    assert devices.lock_dir({"STAGEWISE_GPU_LOCK_DIR": "/var/lock/gpus"}) == Path("/var/lock/gpus")
