"""The library as users install it: a built wheel in a fresh environment (schema inside the package, dependencies
declared), and the workflow used as a Snakemake module from another folder."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .conftest import ROOT, copy_checkout, with_venv_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh virtualenv with the built wheel installed; its other dependencies are this environment's (a .pth
    file), so that nothing is downloaded, but not its editable stagewise."""
    tmp = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools writes build/ and *.egg-info next to the sources it builds
    source = tmp / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((tmp / "dist").glob("stagewise-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "env")], check=True)
    python = tmp / "env" / "bin" / "python"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert install.returncode == 0, install.stderr[-3000:]
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return tmp, python, Path(site)


def _env():
    """This environment without PYTHONPATH: a source tree on it would pass for an installed stagewise."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_the_wheel_ships_the_schema_and_declares_what_it_imports(fresh, tmp_path):
    tmp, python, site = fresh
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import stagewise, stagewise.config as c; print(stagewise.__file__); print(c.SCHEMA); c.load_schema()",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    module, schema = probe.stdout.split()
    assert Path(module).is_relative_to(site) and Path(schema).is_relative_to(site) and Path(schema).exists()
    # every declared dependency is installed in a version the declaration allows
    check = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "check"], capture_output=True, text=True, env=_env()
    )
    stagewise_lines = [line for line in check.stdout.splitlines() if line.lower().startswith("stagewise")]
    assert stagewise_lines == [], stagewise_lines


def test_the_workflow_plans_with_the_installed_library_and_no_source_tree(fresh, tmp_path):
    tmp, python, site = fresh
    copy_checkout(tmp_path)
    assert not (tmp_path / "src").exists()
    result = subprocess.run(
        [str(python), "-m", "snakemake", "-n", "--cores", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "rule train:" in result.stdout and "main_table" in result.stdout


def test_the_workflow_runs_as_a_snakemake_module_from_another_folder(tmp_path):
    shutil.copy(ROOT / "config" / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "Snakefile").write_text(f'''configfile: "config.yaml"


module stagewise:
    snakefile:
        "{ROOT / "workflow" / "Snakefile"}"
    config:
        config


use rule * from stagewise as stagewise_*
''')
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    env = with_venv_path()
    plan = subprocess.run(
        [snakemake, "-n", "--cores", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-3000:]
    assert "rule stagewise_train:" in plan.stdout and "stagewise_main_table" in plan.stdout
    # a real job of the module: its script is found next to the module's rules, its output lands here
    run = subprocess.run(
        [snakemake, "--cores", "1", "resources/datasets/synthetic/docs.tsv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert sum(1 for _ in open(tmp_path / "resources" / "datasets" / "synthetic" / "docs.tsv")) == 5000
