"""A real single-node SLURM on localhost for the cluster tests: munge, MariaDB, slurmdbd, slurmctld, slurmd.

Debian's slurm-wlm 22.05 runs as root without systemd or cgroups (facts in ../shared/SLURM-LOCAL.md). Two GPUs
are character-device nodes with NVIDIA's major number, so SLURM hands out ``gres/gpu`` and sets
CUDA_VISIBLE_DEVICES although the machine has no GPU. Every daemon runs in the foreground as our child, its
PID in ``<state>/pids``; ``up`` is idempotent (daemons that answer are kept), ``down`` stops by PID.

    python tests/slurm/localslurm.py install   # apt packages (root)
    python tests/slurm/localslurm.py up        # start what is not running; prints the SLURM_CONF to use
    python tests/slurm/localslurm.py down      # stop what we started
    python tests/slurm/localslurm.py check     # why this machine cannot run it, or nothing
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ.get("STAGEWISE_SLURM_DIR", "/tmp/stagewise-slurm"))
#: held by the test module that uses the cluster (``exclusive``)
LOCK = STATE.with_name(f"{STATE.name}.lock")
PACKAGES = ["slurm-wlm", "munge", "slurmdbd", "mariadb-server"]
PROGRAMS = [
    "munged",
    "mariadbd",
    "mariadb-install-db",
    "slurmdbd",
    "slurmctld",
    "slurmd",
    "sbatch",
    "sacct",
    "squeue",
    "scancel",
]
# the SLURM executor plugin's job step strips SLURM_CONF before calling srun: the config must also be found at
# the compiled-in default path; we link ours there and refuse to replace a real file
SYSTEM_CONF = Path("/etc/slurm")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")  # slurmctld -> slurmdbd ignores a custom socket
CPUS, MEMORY_MB, GPUS = 8, 64000, 2  # declared (config_overrides); nothing enforces them here
DB_PORT = 3307

SLURM_CONF = """\
# written by tests/slurm/localslurm.py: a single-node cluster for the workflow's SLURM tests
ClusterName=stagewise
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/run/slurmctld.pid
SlurmdPidFile={state}/run/slurmd.pid
SlurmctldLogFile={state}/log/slurmctld.log
SlurmdLogFile={state}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MpiDefault=none
MailProg=/bin/true
SlurmdParameters=config_overrides
MinJobAge=300
ReturnToService=2
KillWait=30
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
NodeName=localhost CPUs={cpus} RealMemory={memory} Gres=gpu:{gpus} State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
"""

GRES_CONF = """\
AutoDetect=off
NodeName=localhost Name=gpu File={state}/dev/nvidia[0-{last}]
"""

SLURMDBD_CONF = """\
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile={state}/run/slurmdbd.pid
LogFile={state}/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={db_port}
StorageUser=root
StorageLoc=slurm_acct_db
"""


def problem() -> str | None:
    """Why this machine cannot run the local SLURM, or None."""
    if sys.platform != "linux":
        return "the local SLURM needs Linux"
    if os.geteuid() != 0:
        return "the local SLURM needs root (daemons, /etc/slurm, device nodes)"
    missing = [p for p in PROGRAMS if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]
    if missing:
        return f"SLURM packages are not installed (missing {', '.join(missing)}): run `python {__file__} install`"
    real = [p for p in (SYSTEM_CONF / "slurm.conf", SYSTEM_CONF / "gres.conf") if p.exists() and not p.is_symlink()]
    if real:
        return f"{real[0]} is a real SLURM configuration; the local test cluster will not replace it"
    return None


def install():
    """Install the Debian packages (about 15 s); `apt-get update` first only when the lists are missing."""
    if os.geteuid() != 0:
        raise SystemExit("installing SLURM needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def _sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _pid_file(name: str) -> Path:
    return STATE / "pids" / f"{name}.pid"


def _alive(name: str) -> int | None:
    try:
        pid = int(_pid_file(name).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    # a reused PID is not ours: the process must be the daemon we started
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return None
    return pid if Path(command).name.startswith(name) else None


def _start(name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen | None:
    """Start a daemon in the foreground as our child, unless ours is running; the new process or None."""
    if _alive(name):
        return None
    with open(STATE / "log" / f"{name}.out", "ab") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env or os.environ.copy(),
            start_new_session=True,
        )
    _pid_file(name).write_text(str(process.pid))
    return process


def _wait(what: str, ready, process: subprocess.Popen | None = None, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.2)
    logs = sorted((STATE / "log").glob("*"))
    tail = "\n".join(f"--- {p}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:]) for p in logs)
    raise RuntimeError(f"local SLURM: {what} did not come up within {timeout:.0f} s\n{tail}")


def _quiet(argv, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)


def slurm_env() -> dict:
    return {**os.environ, "SLURM_CONF": str(STATE / "etc" / "slurm.conf")}


def _write_configs():
    for sub in ("etc", "ctld", "spool", "run", "log", "pids", "dev"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    values = dict(state=STATE, cpus=CPUS, memory=MEMORY_MB, gpus=GPUS, last=GPUS - 1, db_port=DB_PORT)
    (STATE / "etc" / "slurm.conf").write_text(SLURM_CONF.format(**values))
    (STATE / "etc" / "gres.conf").write_text(GRES_CONF.format(**values))
    dbd = STATE / "etc" / "slurmdbd.conf"
    dbd.write_text(SLURMDBD_CONF.format(**values))
    dbd.chmod(0o600)  # slurmdbd refuses a config others can read
    for i in range(GPUS):
        node = STATE / "dev" / f"nvidia{i}"
        if not node.exists():
            os.mknod(node, 0o666 | 0o020000, os.makedev(195, i))  # a character device, NVIDIA's major 195
    SYSTEM_CONF.mkdir(parents=True, exist_ok=True)
    for name in ("slurm.conf", "gres.conf"):
        link = SYSTEM_CONF / name
        if link.is_symlink() or not link.exists():
            link.unlink(missing_ok=True)
            link.symlink_to(STATE / "etc" / name)


def up() -> dict:
    """Start every daemon that is not running; return the environment for SLURM commands."""
    if reason := problem():
        raise RuntimeError(reason)
    _write_configs()
    env = slurm_env()
    MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
    process = _start("munged", [_sbin("munged"), "--foreground", "--force"])
    _wait("munged", MUNGE_SOCKET.exists, process)

    datadir = STATE / "mysql"
    if not (datadir / "mysql").exists():
        subprocess.run(
            [
                _sbin("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
    # no grant tables: a throw-away database on 127.0.0.1 that only slurmdbd talks to
    process = _start(
        "mariadbd",
        [
            _sbin("mariadbd"),
            "--no-defaults",
            f"--datadir={datadir}",
            "--user=root",
            "--skip-grant-tables",
            "--bind-address=127.0.0.1",
            f"--port={DB_PORT}",
            f"--socket={STATE / 'run' / 'mysqld.sock'}",
            f"--pid-file={STATE / 'run' / 'mariadbd.pid'}",
        ],
    )
    _wait("mariadbd", lambda: (STATE / "run" / "mysqld.sock").exists(), process)

    process = _start("slurmdbd", [_sbin("slurmdbd"), "-D"], env)
    _wait("slurmdbd", lambda: _quiet(["sacctmgr", "-n", "list", "cluster"], env).returncode == 0, process)
    process = _start("slurmctld", [_sbin("slurmctld"), "-D", "-i"], env)
    _wait("slurmctld", lambda: _quiet(["scontrol", "ping"], env).returncode == 0, process)
    process = _start("slurmd", [_sbin("slurmd"), "-D", "-N", "localhost"], env)

    def node_ready():
        state = _quiet(["sinfo", "-h", "-n", "localhost", "-o", "%t"], env).stdout.split()
        return bool(state) and state[0].rstrip("*") in {"idle", "mix", "alloc"}

    _wait("slurmd", node_ready, process)
    # the account the profile names (accounting is recorded, not enforced)
    if "stagewise" not in _quiet(["sacctmgr", "-n", "-P", "list", "account", "format=account"], env).stdout.split():
        _quiet(["sacctmgr", "-i", "add", "account", "stagewise", "cluster=stagewise"], env)
        _quiet(["sacctmgr", "-i", "add", "user", "root", "account=stagewise", "cluster=stagewise"], env)
    return env


def down():
    """Stop the daemons we started (by PID), cancelling jobs first; slurmd before slurmctld before slurmdbd."""
    if _alive("slurmctld"):
        _quiet(["scancel", "--full", "--user=root"], slurm_env())
    for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
        pid = _alive(name)
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while _alive(name) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(name):
                os.kill(pid, signal.SIGKILL)
        _pid_file(name).unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive():
    """Holds the local cluster for one test module at a time: the SLURM test modules would otherwise share, cancel
    and stop each other's jobs when they run side by side (pytest-xdist without `make test`'s scheduler, which keeps
    them on one worker, or two pytest runs). The lock is released when the holder ends, however it ends."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


def running() -> bool:
    return all(_alive(n) for n in ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd"))


def client_conf(path: Path) -> Path:
    """A SLURM client config that gives up at once on an absent controller, written to ``path``. Snakemake imports
    the SLURM executor plugin in every invocation, local ones too, and the plugin runs `scontrol show config` while it
    imports; where SLURM is installed and no controller answers (every CI machine after `.ci/run`, which installs the
    test cluster's packages), scontrol waits MessageTimeout - 1 seconds: 9 s per `snakemake` call with the default of
    10 (`snakemake -n --configfile config/paper.yaml`: 10.7 s, with this config 1.8 s). Only the test suite
    (tests/conftest.py), `make lint` and `make demo` use it, where SLURM_CONF is unset: a cluster user's config is
    untouched (the demo runs locally)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")  # test workers write it side by side: renamed whole
    tmp.write_text(
        "# tests/slurm/localslurm.py client_conf: no controller here; scontrol gives up at once\n"
        "ClusterName=none\nSlurmctldHost=localhost\nMessageTimeout=1\n"
    )
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "check"
    if action == "install":
        install()
    elif action == "up":
        up()
        print(f"export SLURM_CONF={STATE / 'etc' / 'slurm.conf'}")
    elif action == "down":
        down()
    elif action == "client-conf":
        print(client_conf(Path(sys.argv[2])))
    elif action == "check":
        reason = problem()
        print(reason or "ok")
        sys.exit(1 if reason else 0)
    else:
        raise SystemExit(f"usage: {sys.argv[0]} install|up|down|check|client-conf PATH")
