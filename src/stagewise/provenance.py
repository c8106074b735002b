"""Provenance: which code, software, machine and settings produced a run file, a model folder or a table.

A record holds stagewise's version, the git commit of its source tree and whether that tree had uncommitted changes
(or why there is no commit: no git, an installed package), the versions of Python and of torch, transformers,
lightning, pyserini, colbert-ai, ranx and ir_datasets (null: not installed), the CPU and the GPUs this process used,
the host, the SLURM job, the time, and what its writer knows: the config's hash, the rule and its wildcards (ranker,
reranker, cell, seed, test set), a model's fingerprint, the settings.

It follows ir_metadata (Breuer et al., "ir_metadata: An Extensible Metadata Schema for IR Experiments", SIGIR 2022;
https://www.ir-metadata.org), schema version 0.1, as far as it fits:

* a run file carries the record as its header, the way repro_eval writes and reads it: a first line
  ``# ir_metadata.start``, the record's YAML one line each after ``# ``, a line ``# ir_metadata.end``, then the run.
  Our readers skip ``#`` lines (``stagewise.io``), so do trec_eval versions with comment support; for a tool that
  does not (pytrec_eval), ``stagewise.io.without_header`` or ``grep -v '^#'`` gives the plain run (the header's
  format lives in stagewise.io: ``header_lines``, ``read_header``);
* its top-level keys are ir_metadata's: ``schema-version``, ``tag`` (a run's tag column) and the PRIMAD components a
  program can fill: ``platform`` (``hardware``: cpu, gpu, ram; ``operating system``; ``software``: ``libraries``),
  ``implementation`` (``executable``: ``cmd``; ``source``: ``lang``, ``commit``, and ours: ``version``,
  ``dirty``), ``method`` (``automatic: true``, then the writer's context: config hash, rule, wildcards, settings,
  a re-ranking's ``reranks``, as ir_metadata's multi-stage pipelines name the stage they re-rank) and ``data``
  (``test collection``: the test set and its queries; ``training data``: a model's files). ``research goal`` and
  ``actor`` are for the people who publish a run to fill in.
* where we differ: libraries are a mapping name -> version (null where absent) rather than a list of
  ``name==version`` strings; our own keys are snake_case; what changes from job to job without changing a result
  (host, time, SLURM job) is in a section of its own, ``job``, so that comparing two runs' PRIMAD components
  (repro_eval's MetadataAnalyzer) does not count it as another platform.

Model folders and ``results/tables/`` carry the same record as JSON in ``provenance.json``; a folder of tables holds
one record per file, under ``files``. ``read`` finds the record of any of these; ``stagewise provenance FILE`` prints
it.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from . import __version__
from .errors import InputFormatError
from .io import atomic_path, folder_sha256, read_header

log = logging.getLogger(__name__)

SCHEMA_VERSION = "0.1"
#: the record of a folder (a model folder, results/tables/)
FILE = "provenance.json"
#: the packages whose versions every record names (importlib.metadata names)
PACKAGES = ("torch", "transformers", "lightning", "pyserini", "colbert-ai", "ranx", "ir_datasets")
#: environment variables that say which job and which GPUs, recorded when set
JOB_VARIABLES = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "CUDA_VISIBLE_DEVICES")

#: what every record of this process adds to its writer's context (see ``set_job``)
_job: dict = {}


def config_hash(config) -> str:
    """sha256 of the config as canonical JSON (keys sorted, no spaces): any change of any key changes it."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def set_job(config=None, rule: str | None = None, wildcards=None) -> None:
    """Set what every record this process writes adds to its writer's context: the config's hash, the rule and its
    wildcards (a mapping, or Snakemake's ``Wildcards`` with ``items()``). A workflow script calls this once;
    another call replaces it."""
    _job.clear()
    if config is not None:
        _job["config_hash"] = config_hash(config)
    if rule is not None:
        _job["rule"] = rule
    _job.update(dict(wildcards.items()) if wildcards is not None else {})


def record(**context) -> dict:
    """The provenance record of a file this process writes now (see the module docstring for its layout):
    ``context`` (with the job's, see ``set_job``) goes under ``method``, except ``tag`` (top level), ``dataset`` (the
    test set: ``data: test collection: name``), ``queries`` (``data: test collection: queries``) and
    ``training_data`` (``data: training data``)."""
    given = _plain({**_job, **context})
    rec: dict = {"schema-version": SCHEMA_VERSION}
    if "tag" in given:
        rec["tag"] = given.pop("tag")
    rec["platform"] = {
        "hardware": {**_machine(), "gpu": _gpus()},
        "operating system": _operating_system(),
        "software": {"libraries": {"python": versions()}},
    }
    rec["implementation"] = {"executable": {"cmd": " ".join(sys.argv)}, "source": source()}
    # ir_metadata's test collection: its name (our test set) and where its topics (queries) come from
    test = {name: given.pop(key) for key, name in (("dataset", "name"), ("queries", "queries")) if key in given}
    training = given.pop("training_data") if "training_data" in given else None
    rec["method"] = {"automatic": True, **given}
    data = {**({"test collection": test} if test else {}), **({"training data": training} if training else {})}
    if data:
        rec["data"] = data
    rec["job"] = job()
    return _plain(rec)  # a copy of the cached parts


def _plain(value):
    """``value`` as JSON has it (paths and other objects as strings, tuples as lists): what a record reads back as."""
    return json.loads(json.dumps(value, default=str))


@functools.cache
def versions() -> dict:
    """Python's, stagewise's and ``PACKAGES``' versions (null: not installed), from the installed distributions'
    metadata: nothing is imported."""
    from importlib import metadata

    found = {"python": platform.python_version(), "stagewise": __version__}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def source() -> dict:
    """The source tree stagewise runs from: its version, git commit and whether tracked files differ from it
    (``dirty``). Without git, or for a package that is not a git checkout (installed from a wheel, or untracked
    inside someone's repository), commit and dirty are null and ``git`` says why."""
    out = {"lang": ["python"], "version": __version__, "commit": None, "dirty": None}
    package = Path(__file__).resolve().parent
    git = shutil.which("git")
    if git is None:
        return {**out, "git": "git is not installed"}

    def run(*args):
        try:
            return subprocess.run([git, "-C", str(package), *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return subprocess.CompletedProcess(args, 1, "", str(e))

    tracked = run("ls-files", "--error-unmatch", "--", "__init__.py")
    if tracked.returncode != 0:
        reason = (tracked.stderr.strip().splitlines() or ["unknown"])[0]
        return {
            **out,
            "git": f"not a git checkout ({reason})"
            if "not a git repository" in reason
            else f"the package is not tracked by a git repository ({reason})",
        }
    head, status = run("rev-parse", "HEAD"), run("status", "--porcelain", "--untracked-files=no")
    if head.returncode != 0 or status.returncode != 0:
        return {**out, "git": (head.stderr or status.stderr).strip().splitlines()[0]}
    return {**out, "commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


@functools.cache
def _machine() -> dict:
    """The CPU and memory, as ir_metadata's platform: hardware names them (read from /proc, cheap)."""
    model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        ram = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GB"
    except (ValueError, OSError, AttributeError):
        ram = None
    return {
        "cpu": {
            "model": model or platform.processor() or None,
            "architecture": platform.machine(),
            "number of cores": os.cpu_count(),
            "usable cores": cores,
        },
        "ram": ram,
    }


def _gpus() -> dict | None:
    """The GPUs this process uses: asked of torch only where CUDA is already initialised (a job that scored or
    trained on a GPU), so that a CPU job never starts CUDA to write its record. None otherwise."""
    torch = sys.modules.get("torch")
    try:
        if torch is None or not torch.cuda.is_initialized():
            return None
        count = torch.cuda.device_count()
        return {
            "model": [torch.cuda.get_device_name(i) for i in range(count)],
            "number of devices": count,
            "cuda": torch.version.cuda,
        }
    except Exception as e:  # a record never fails its job
        return {"error": f"{type(e).__name__}: {e}"}


@functools.cache
def _operating_system() -> dict:
    try:
        distribution = platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        distribution = None
    return {"kernel": f"{platform.system()} {platform.release()}", "distribution": distribution}


def job() -> dict:
    """The host, the time (UTC) and, where set, the SLURM job and the visible GPUs."""
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return {
        "host": platform.node(),
        "time": now,
        **{name.lower(): os.environ[name] for name in JOB_VARIABLES if name in os.environ},
    }


#: what Snakemake adds to a directory output once its job has finished (an empty file; the model is written before it)
SNAKEMAKE_STAMP = ".snakemake_timestamp"


def model_fingerprint(folder) -> str | None:
    """sha256 of a model folder's files and names (``stagewise.io.folder_sha256``) without its provenance.json and
    Snakemake's stamp, so that the record the training writes and a later one agree; None when ``folder`` is not a
    folder (a hub id)."""
    return folder_sha256(folder, skip=(FILE, SNAKEMAKE_STAMP)) if Path(folder).is_dir() else None


# -- writing (a run file's header: stagewise.io.header_lines, through write_run)


def write_json(folder, rec: dict) -> Path:
    """Write ``rec`` as the folder's provenance.json, atomically; its path."""
    path = Path(folder) / FILE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_entry(path, rec: dict) -> Path:
    """Record ``rec`` as the entry of file ``path`` in the provenance.json of its folder (results/tables/: one
    entry per table, each written by the job that wrote the table). Jobs writing tables of one folder at once take
    turns (a lock file next to it); entries of files no longer there are dropped."""
    import fcntl

    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{FILE}.lock", "a") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        try:
            files = _load(folder / FILE)["files"] if (folder / FILE).is_file() else {}
        except (InputFormatError, KeyError, TypeError):
            log.warning("%s holds no table records; writing it anew", folder / FILE)
            files = {}
        files = {name: entry for name, entry in files.items() if (folder / name).exists()}
        files[path.name] = rec
        return write_json(folder, {"files": dict(sorted(files.items()))})


# -- reading


def _load(path) -> dict:
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputFormatError(path, f"is not JSON ({e})") from None
    if not isinstance(found, dict):
        raise InputFormatError(path, "is not a provenance record (a JSON object)")
    return found


def read(path) -> dict:
    """The provenance record of ``path``: a run file's header, a folder's provenance.json (a model folder's record;
    results/tables/: every table's, under ``files``), or for a file inside such a folder the folder's record (a
    model's weights) or the file's entry (a table)."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, "file not found")
    if path.is_dir():
        if (path / FILE).is_file():
            return _load(path / FILE)
        raise InputFormatError(path, f"has no {FILE}: the folder carries no provenance record")
    if path.name == FILE:
        return _load(path)
    header = read_header(path)
    if header is not None:
        return header
    beside = path.parent / FILE
    if beside.is_file():
        found = _load(beside)
        if "files" not in found:
            return found
        if path.name in found["files"]:
            return found["files"][path.name]
    raise InputFormatError(
        path, f"carries no provenance record (no ir_metadata header, no entry in a {FILE} next to it)"
    )
