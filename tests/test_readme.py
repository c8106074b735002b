"""The README's commands work as pasted, in order, on a fresh clone after its first two (make demo, make test):
every `snakemake` line of its code blocks plans (a dry run) in a copy of the checkout, and so does every submission
of the batch controller (`sbatch workflow/profiles/slurm/controller.sbatch <arguments>`, through the script's own
dry run, `bash <script> -n <arguments>`)."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SHARED_DATA, copy_checkout, with_venv_path

pytestmark = pytest.mark.slow
CONTROLLER = "workflow/profiles/slurm/controller.sbatch"


def code_lines():
    """(line number, command) of every line of the README's bash blocks, comments removed."""
    lines, inside = [], False
    for number, line in enumerate((ROOT / "README.md").read_text().splitlines(), start=1):
        if line.startswith("```"):
            inside = line.strip() == "```bash" and not inside
            continue
        if inside and line.split("#")[0].strip():
            lines.append((number, line.split("  #")[0].split(" # ")[0].strip()))
    return lines


def test_the_virtualenv_is_activated_before_the_first_snakemake_line():
    commands = [c for _, c in code_lines()]
    first = next(i for i, c in enumerate(commands) if c.startswith("snakemake"))
    assert "source .venv/bin/activate" in commands[:first], commands[:first + 1]


def test_every_snakemake_line_of_the_readme_plans(tmp_path):
    checkout = copy_checkout(tmp_path / "clone")
    (checkout / "slurm").symlink_to(os.readlink(ROOT / "slurm"))
    if SHARED_DATA.exists():
        (tmp_path / "shared").symlink_to(SHARED_DATA.parent)  # ../shared/data, as next to a real checkout
    env = with_venv_path()
    planned = controllers = 0
    for number, command in code_lines():
        words = shlex.split(command)
        if words[0] in {"sbatch", "bash"} and CONTROLLER in words:
            # the controller's arguments are Snakemake's: its dry run plans them with the SLURM profile
            args = words[words.index(CONTROLLER) + 1:]
            result = subprocess.run(["bash", CONTROLLER, *(args if "-n" in args else ["-n", *args])], cwd=checkout,
                                    capture_output=True, text=True, timeout=300, env=env)
            assert result.returncode == 0, f"README line {number}: {command}\n{result.stderr[-3000:]}"
            assert re.search(r"^total\s+\d+$", result.stdout, re.M), number
            controllers += 1
            continue
        if not command.startswith("snakemake"):
            continue
        args = words[1:]
        if "trecdl.yaml" in command and not SHARED_DATA.exists():
            continue  # its inputs are the shared research-only files
        if "--software-deployment-method" in args and not shutil.which("conda"):
            # Snakemake runs `conda info` even for a dry run; no conda here: plan the same command without it
            at = args.index("--software-deployment-method")
            args = args[:at] + args[at + 2:]
        if "-n" not in args:
            args.insert(0, "-n")
        result = subprocess.run([str(Path(sys.executable).with_name("snakemake")), *args], cwd=checkout,
                                capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, f"README line {number}: {command}\n{result.stderr[-3000:]}"
        assert re.search(r"^total\s+\d+$", result.stdout, re.M) or "Nothing to be done" in result.stdout, number
        planned += 1
    assert planned >= 7 and controllers >= 2
