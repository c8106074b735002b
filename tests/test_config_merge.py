"""Snakemake's config semantics: --config and --configfile merge over the demo's config/config.yaml, and a config that
says `standalone: true` replaces it (dry runs of the real workflow in a copy of the checkout)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stagewise.config import typed_command_line_values

from .conftest import copy_checkout, with_venv_path

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


def dry_run(folder, *args):
    env = with_venv_path()
    result = subprocess.run([SNAKEMAKE, "-n", *args], cwd=folder, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def trained_cells(stdout):
    return set(re.findall(r"wildcards: reranker=(\w+), schedule=([\w.-]+), seed=(\d+)", stdout))


def test_config_on_the_command_line_merges_over_the_demo(checkout):
    demo = trained_cells(dry_run(checkout))
    assert {s for _, _, s in demo} == {"1", "2"}
    one = trained_cells(dry_run(checkout, "--config", "seeds=[1]"))
    assert one == {c for c in demo if c[2] == "1"}  # the demo's grid, one seed


def test_a_partial_configfile_merges_over_the_demo(checkout):
    (checkout / "seed3.yaml").write_text("seeds: [3]\nschedules: [C]\n")
    cells = trained_cells(dry_run(checkout, "--configfile", "seed3.yaml"))
    assert cells == {(r, "C", "3") for r in ("electra", "roberta")}


def test_a_standalone_config_inherits_nothing_of_the_demo(checkout):
    out = dry_run(checkout, "--configfile", "config/paper.yaml")
    assert (
        "synthetic_dataset" not in out and "simulated_teacher" not in out and "resources/datasets/synthetic" not in out
    )
    assert {r for r, _, _ in trained_cells(out)} == {"electra", "roberta"}
    rankers = set(re.findall(r"wildcards: ranker=(\w+),", out))
    assert rankers == {"bm25", "colbertv2"}
    # --config still applies on top of a standalone config
    assert {
        s for _, _, s in trained_cells(dry_run(checkout, "--configfile", "config/paper.yaml", "--config", "seeds=[7]"))
    } == {"7"}


def test_nested_command_line_values_get_the_types_of_a_config_file():
    assert typed_command_line_values(
        {"seeds": ["1", "2"], "rerank": {"depth": "50", "batch_size": "8"}, "name": "x", "lr": ["1.0e-5", "1e-5"]}
    ) == {"seeds": [1, 2], "rerank": {"depth": 50, "batch_size": 8}, "name": "x", "lr": [1.0e-5, "1e-5"]}


def test_a_config_with_its_own_corpus_must_say_whether_it_replaces_the_demo(checkout):
    (checkout / "mine.yaml").write_text("corpus: msmarco-passage\nseeds: [1]\n")
    env = with_venv_path()
    result = subprocess.run(
        [SNAKEMAKE, "-n", "--configfile", "mine.yaml"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode != 0
    assert "sets 'corpus' (its own data) but not 'standalone'" in result.stdout + result.stderr
