"""One GPU per local job: a job that asks for a GPU takes a free device for itself and sets CUDA_VISIBLE_DEVICES.

Snakemake's local executor counts a `gpu` resource but assigns no device, so four `gpu=1` jobs on a four-GPU
workstation would all use GPU 0. ``hold_gpu()``, called by a GPU job before anything touches CUDA, takes the first
device nobody holds, with an exclusive ``flock`` on a per-device lock file: the kernel drops the lock when the
process ends, however it ends (SIGKILL, out of memory), so a dead job never keeps a device and no file has to be
deleted by hand. While every device is held it waits.

Which devices (the first that applies):
  * under SLURM (``SLURM_JOB_ID`` set): SLURM has chosen the job's GPU; nothing changes;
  * ``STAGEWISE_GPUS``: a comma-separated list (``0,1,2,3``; ``none`` or empty: no GPU);
  * ``CUDA_VISIBLE_DEVICES`` as the workflow was started with it (``CUDA_VISIBLE_DEVICES=2,3 snakemake ...``);
  * the machine's GPUs, counted without initialising CUDA: ``nvidia-smi -L`` (MIG instances by UUID), else
    ``/proc/driver/nvidia/gpus``; numbered in PCI bus order, as nvidia-smi numbers them;
  * none: nothing is set and the job runs on the CPU.

Lock files live in ``STAGEWISE_GPU_LOCK_DIR`` (default: ``/tmp/stagewise-gpus``, on the machine's own disk, shared by
every workflow and user on it); each holds the holder's PID and job while it is held.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

GPUS_VARIABLE = "STAGEWISE_GPUS"
LOCK_DIR_VARIABLE = "STAGEWISE_GPU_LOCK_DIR"
NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True)
class GpuPool:
    """The devices a job may take and where that list came from (for the log)."""

    devices: tuple[str, ...]
    source: str


@dataclass
class HeldGpu:
    device: str
    lock_path: Path
    fd: int


_held: HeldGpu | None = None


def _device_list(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    return () if names in {("none",), ("-1",)} else names


def parse_nvidia_smi(text: str) -> tuple[str, ...]:
    """Devices from ``nvidia-smi -L``: a GPU's index, or the UUIDs of its MIG instances when it is partitioned
    (CUDA_VISIBLE_DEVICES names MIG instances only by UUID)."""
    devices, gpu, migs = [], None, []
    for line in text.splitlines():
        if m := re.match(r"\s*GPU (\d+):", line):
            devices.extend(migs or ([gpu] if gpu is not None else []))
            gpu, migs = m.group(1), []
        elif m := re.match(r"\s*MIG .*\(UUID: (MIG-[^)\s]+)\)", line):
            migs.append(m.group(1))
    devices.extend(migs or ([gpu] if gpu is not None else []))
    return tuple(devices)


def machine_gpus(proc: Path = NVIDIA_PROC) -> GpuPool:
    """The machine's GPUs without initialising CUDA: ``nvidia-smi -L``, else the driver's /proc entries, else none."""
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        listed = None
    if listed is not None and listed.returncode == 0 and (devices := parse_nvidia_smi(listed.stdout)):
        return GpuPool(devices, "nvidia-smi -L")
    try:
        entries = sorted(p.name for p in proc.iterdir())  # one folder per GPU, named by PCI bus id
    except OSError:
        entries = []
    if entries:
        return GpuPool(tuple(str(i) for i in range(len(entries))), str(proc))
    return GpuPool((), "no nvidia-smi, no /proc/driver/nvidia/gpus")


def gpu_pool(environ=None, proc: Path = NVIDIA_PROC) -> GpuPool:
    """The devices local GPU jobs share (the module docstring says in which order the sources are tried)."""
    environ = os.environ if environ is None else environ
    if GPUS_VARIABLE in environ:
        return GpuPool(_device_list(environ[GPUS_VARIABLE]), GPUS_VARIABLE)
    if "CUDA_VISIBLE_DEVICES" in environ:
        return GpuPool(_device_list(environ["CUDA_VISIBLE_DEVICES"]), "CUDA_VISIBLE_DEVICES")
    return machine_gpus(proc)


def lock_dir(environ=None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get(LOCK_DIR_VARIABLE):
        return Path(environ[LOCK_DIR_VARIABLE])
    # /tmp itself, not TMPDIR: Snakemake sets each job's TMPDIR from its tmpdir resource, and jobs whose TMPDIRs
    # differed would not see each other's locks
    return (Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())) / "stagewise-gpus"


def _lock_path(folder: Path, device: str) -> Path:
    return folder / f"gpu-{re.sub(r'[^A-Za-z0-9._-]', '_', device)}.lock"


def _open_lock(path: Path) -> tuple[int, bool]:
    """An fd on the lock file (created world-writable, for every user of the machine) and whether we may write it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # another user's file without write permission: flock needs only a read fd
        return os.open(path, os.O_RDONLY), False
    try:
        os.fchmod(fd, 0o666)
    except OSError:
        pass
    return fd, True


def _try_lock(path: Path, holder: str) -> int | None:
    fd, writable = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if writable:  # who holds it, for the log of a job that waits (a full disk only leaves it out)
        info = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}: {holder}\n"
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode(), 0)
        except OSError:
            pass
    return fd


def _holders(folder: Path, devices) -> str:
    parts = []
    for device in devices:
        try:
            text = _lock_path(folder, device).read_text(errors="replace").strip()
        except OSError:
            text = ""
        parts.append(f"GPU {device}: {text or '?'}")
    return "; ".join(parts)


def _cuda_initialised() -> bool:
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    return bool(cuda is not None and cuda.is_initialized())


def hold_gpu(
    holder: str = "", environ=None, proc: Path = NVIDIA_PROC, poll_seconds: float = 2.0, timeout: float | None = None
) -> str | None:
    """Take one free GPU for the rest of this process and point CUDA_VISIBLE_DEVICES at it; the device, or None.

    Call it at the start of a GPU job, before torch (or anything else) initialises CUDA. Under SLURM, or when there
    is no GPU, it sets nothing. ``holder`` (the job's log, say) is written into the lock file for whoever waits.
    Waits while every device is held; with ``timeout`` (seconds) it raises TimeoutError instead of waiting longer.
    """
    global _held
    environ = os.environ if environ is None else environ
    if _held is not None:
        return _held.device
    if environ.get("SLURM_JOB_ID"):
        log.info(
            "SLURM job %s: CUDA_VISIBLE_DEVICES=%s, as SLURM set it",
            environ["SLURM_JOB_ID"],
            environ.get("CUDA_VISIBLE_DEVICES", "(unset)"),
        )
        return environ.get("CUDA_VISIBLE_DEVICES")
    if _cuda_initialised():
        raise RuntimeError("hold_gpu() was called after CUDA was initialised: CUDA_VISIBLE_DEVICES would not apply")
    pool = gpu_pool(environ, proc)
    if not pool.devices:
        log.info(
            "no GPU to assign (%s): CUDA_VISIBLE_DEVICES left %s",
            pool.source,
            environ.get("CUDA_VISIBLE_DEVICES", "unset"),
        )
        return None
    folder = lock_dir(environ)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        folder.chmod(0o1777)  # every user's jobs share the machine's GPUs, as /tmp is shared
    except OSError:
        pass
    started, waiting_logged = time.monotonic(), False
    while True:
        for device in pool.devices:
            path = _lock_path(folder, device)
            fd = _try_lock(path, holder or f"pid {os.getpid()}")
            if fd is None:
                continue
            _held = HeldGpu(device, path, fd)
            if pool.source in {"nvidia-smi -L", str(proc)}:
                environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # number devices as nvidia-smi does
            environ["CUDA_VISIBLE_DEVICES"] = device
            waited = time.monotonic() - started
            log.info(
                "GPU %s of %s (from %s): CUDA_VISIBLE_DEVICES=%s for this job%s; held through %s until the "
                "process ends",
                device,
                ",".join(pool.devices),
                pool.source,
                device,
                f", after waiting {waited:.0f} s" if waiting_logged else "",
                path,
            )
            return device
        if timeout is not None and time.monotonic() - started >= timeout:
            raise TimeoutError(f"no free GPU within {timeout:.0f} s: {_holders(folder, pool.devices)}")
        if not waiting_logged:
            log.info("every GPU is held (%s): waiting for one", _holders(folder, pool.devices))
            waiting_logged = True
        time.sleep(poll_seconds)


def release_gpu() -> None:
    """Give the held device back before the process ends (tests; a job simply exits)."""
    global _held
    if _held is not None:
        os.close(_held.fd)
        _held = None
