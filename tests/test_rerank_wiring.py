"""The re-ranking settings reach the library: rerank.head_precision from the config through the rerank rule's script,
--head through the command line (the library's scoring itself: tests/test_rerank.py)."""

import runpy
from types import SimpleNamespace

import pytest
import yaml

import stagewise.devices
import stagewise.logs
import stagewise.rerank
from stagewise.cli import main
from stagewise.config import validate_config

from .conftest import ROOT


class _Input(SimpleNamespace):
    def get(self, name, default=None):
        return getattr(self, name, default)


#: Snakemake's wildcards: attributes, and items() as a mapping has them
WILDCARDS = {"reranker": "electra", "schedule": "C", "seed": "1"}


@pytest.fixture
def calls(monkeypatch):
    """rerank_files replaced by a recorder: (positional arguments, keywords) of each call."""
    recorded = []
    monkeypatch.setattr(stagewise.rerank, "rerank_files", lambda *a, **k: recorded.append((a, k)))
    monkeypatch.setattr(stagewise.logs, "to_file", lambda *a, **k: None)
    monkeypatch.setattr(stagewise.devices, "hold_gpu", lambda *a, **k: None)  # no GPU lock for the test process
    return recorded


@pytest.mark.parametrize("head", [None, "bf16"])
def test_the_rerank_rule_passes_the_configured_head_precision(tmp_path, calls, head):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    if head:
        config["rerank"]["head_precision"] = head
    settings = validate_config(config)["rerank"]  # the rule's params: config["rerank"], defaults filled
    snakemake = SimpleNamespace(
        log=[str(tmp_path / "rerank.log")],
        threads=1,
        output=[str(tmp_path / "bm25.run"), str(tmp_path / "colbert.run")],
        # one job per (model, test set): every reranked ranker's run of the test set, in the order of the outputs
        input=_Input(
            model="results/models/electra/C/seed1",
            runs=["results/runs/first_stage/bm25/test.run", "results/runs/first_stage/colbert/test.run"],
        ),
        params=SimpleNamespace(settings=settings, queries="local:q", corpus="local:c", rankers=["bm25", "colbert"]),
        wildcards=SimpleNamespace(**WILDCARDS, items=WILDCARDS.items),
        config=config,
        rule="rerank",
    )
    runpy.run_path(str(ROOT / "workflow" / "scripts" / "rerank.py"), init_globals={"snakemake": snakemake})
    ((args, keywords),) = calls
    jobs, applied = args[1], args[3]  # rerank_files(model_dir, jobs, corpus, settings, ...)
    expected = [(k, k, str(tmp_path / f"{k}.run")) for k in ("bm25", "colbert")]
    assert [(job.ranker, job.run.split("/")[-2], job.out) for job in jobs] == expected
    assert applied.head_precision == (head or "fp32")  # the schema's default when the config says nothing
    assert (applied.depth, applied.batch_size, applied.max_length) == (
        settings["depth"],
        settings["batch_size"],
        settings["max_length"],
    )


@pytest.mark.parametrize("given", [[], ["--head", "bf16"]])
def test_the_command_line_passes_head(tmp_path, calls, given):
    (tmp_path / "model").mkdir()
    (tmp_path / "r.run").write_text("q Q0 d 1 1.0 t\n")
    main(
        [
            "rerank",
            str(tmp_path / "model"),
            str(tmp_path / "r.run"),
            "local:q",
            "local:c",
            str(tmp_path / "o.run"),
            *given,
        ]
    )
    assert calls[0][0][3].head_precision == (given[1] if given else "fp32")


def test_the_paper_grid_scores_with_the_fp32_head():
    paper = validate_config(yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()))
    assert paper["rerank"]["head_precision"] == "fp32"
