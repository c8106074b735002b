"""envs/: every rule names a conda environment, each environment's pip part pins what requirements.txt pins, and
resolves against PyPI (pip's dry run, no conda: no conda channel is reachable where these tests run)."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from .conftest import ROOT

ENVS = ROOT / "envs"


def pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==")
            out[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return out


def pip_part(path) -> list[str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    return next(d["pip"] for d in deps if isinstance(d, dict))


def conda_part(path) -> list[str]:
    return [d for d in yaml.safe_load(path.read_text())["dependencies"] if isinstance(d, str)]


def test_every_rule_runs_in_an_environment_of_envs():
    rules = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for match in re.finditer(r"^\s*rule (\w+):\n(.*?)(?=^\s*rule \w+:|\Z)", smk.read_text(), re.M | re.S):
            env = re.search(r"conda:\s*\n\s*\"([^\"]+)\"", match.group(2))
            rules[match.group(1)] = env and (smk.parent / env.group(1)).resolve()
    assert len(rules) >= 22
    assert all(rules.values()), [r for r, e in rules.items() if not e]
    assert {e.name for e in rules.values()} == {p.name for p in ENVS.glob("*.yaml")}
    assert all(e.exists() for e in rules.values())


def test_every_pin_of_an_environment_is_the_pin_of_requirements_txt():
    required = pins((ROOT / "requirements.txt").read_text().splitlines())
    for env in sorted(ENVS.glob("*.yaml")):
        assert "python=3.11" in conda_part(env), env.name
        pinned = pins(pip_part(env))
        assert pinned, env.name
        assert all(line.startswith("-") or "==" in line for line in pip_part(env)), env.name  # pinned, all of it
        assert {n: v for n, v in pinned.items() if required.get(n) != v} == {}, env.name


def _dry_run(requirements):
    # --isolated: PyPI alone, as on a cluster (not this machine's local wheel folders); index options of the file
    # (the CPU environments' PyTorch CPU index) are left out: that index is not reachable from here
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--isolated",
            "--disable-pip-version-check",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            "-",
            "-r",
            str(requirements),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_each_environment_resolves_on_pypi_and_colbert_gets_the_cuda_of_its_torch(tmp_path):
    running = {}
    for env in sorted(ENVS.glob("*.yaml")):
        requirements = tmp_path / f"{env.stem}.txt"
        requirements.write_text("\n".join(line for line in pip_part(env) if not line.startswith("-")) + "\n")
        running[env.stem] = _dry_run(requirements)
    resolved = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=900)
        if process.returncode and ("NewConnectionError" in err or "Network is unreachable" in err):
            pytest.skip(f"PyPI not reachable: {err.strip().splitlines()[-1]}")
        assert process.returncode == 0, f"{name}: {err[-3000:]}"
        resolved[name] = {
            re.sub(r"[-_.]+", "-", i["metadata"]["name"]).lower(): i["metadata"]["version"]
            for i in json.loads(out)["install"]
        }
    for name, versions in resolved.items():
        for package, version in pins(pip_part(ENVS / f"{name}.yaml")).items():
            assert versions.get(package, "").split("+")[0] == version, (name, package, versions.get(package))
    # colbert-ai compiles its CUDA extensions against torch's CUDA: the environment's nvcc must be that version
    cuda = resolved["colbert"]["nvidia-cuda-runtime"]
    wanted = next(d.split("=")[1] for d in conda_part(ENVS / "colbert.yaml") if d.startswith("cuda-version="))
    assert cuda.startswith(wanted + "."), (cuda, wanted)
