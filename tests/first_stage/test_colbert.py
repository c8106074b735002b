"""ColBERT with the real colbert-ai: a checkpoint frozen from the MiniLM weights, PLAID index and search."""

import json
import logging
import math
import random

import pytest
import torch

from stagewise.data.synthetic import SyntheticSpec, generate
from stagewise.errors import ConfigError
from stagewise.first_stage import colbert
from stagewise.io import sorted_ranking, without_header
from stagewise.provenance import read

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus():
    docs, _ = generate(
        SyntheticSpec(seed=5, n_passages=1500, n_topics=6, concepts_per_topic=12, splits={"train": 2, "test": 2})
    )
    return docs


def settings(encoder=None, **given):
    """A colbert ranker's settings: a checkpoint frozen from MiniLM's first layer, passages cut at 64 tokens."""
    return colbert.ColbertSettings.from_config(
        {"kind": "colbert", "encoder": {"layers": 1, "seed": 11, **(encoder or {})}, "doc_maxlen": 64, **given}
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return colbert.freeze_checkpoint(tmp_path_factory.mktemp("encoder") / "ck", settings())


@pytest.fixture(scope="module")
def index(corpus, checkpoint, tmp_path_factory):
    plaid = colbert.PlaidIndex(tmp_path_factory.mktemp("index") / "plaid", checkpoint)
    return colbert.build_index(corpus.items(), plaid, settings())


def copied_queries(corpus, n=30, words=5, seed=0):
    """A query copied from a random passage (a window of its words) -> that passage's id."""
    rng = random.Random(seed)
    docids = sorted(corpus)
    queries, source = {}, {}
    for i in range(n):
        docid = rng.choice(docids)
        tokens = corpus[docid].split()
        start = rng.randrange(max(1, len(tokens) - words))
        queries[f"q{i}"], source[f"q{i}"] = " ".join(tokens[start : start + words]), docid
    return queries, source


def top(run, k=10):
    return [d for d, _ in sorted_ranking(run)[:k]]


def test_the_settings_have_a_field_per_key_of_the_schema_section():
    from dataclasses import fields

    from stagewise.schema import load_schema

    section = load_schema()["definitions"]["colbert_ranker"]["properties"]
    encoder = section["encoder"]["properties"]
    assert {f.name for f in fields(colbert.ColbertSettings)} == set(section)
    assert {f.name for f in fields(colbert.EncoderSettings)} == set(encoder)
    given = settings(depth=10)  # the schema's defaults for the keys left out, None where it has none
    assert given.encoder == colbert.EncoderSettings(
        base=encoder["base"]["default"], layers=1, dim=encoder["dim"]["default"], seed=11
    )
    assert (given.checkpoint, given.nbits, given.depth) == (None, section["nbits"]["default"], 10)
    assert colbert.ColbertSettings.from_config({"kind": "colbert", "checkpoint": "x"}).encoder is None


def test_frozen_checkpoint_loads_the_same_projection_every_time(checkpoint, tmp_path):
    from colbert.infra import ColBERTConfig
    from colbert.modeling.checkpoint import Checkpoint

    config = ColBERTConfig.load_from_checkpoint(str(checkpoint))
    first, second = (Checkpoint(str(checkpoint), colbert_config=config) for _ in range(2))
    assert torch.equal(first.linear.weight, second.linear.weight)
    assert len(first.bert.encoder.layer) == 1
    with torch.inference_mode():
        assert torch.equal(first.queryFromText(["kobo zira"]), second.queryFromText(["kobo zira"]))
    again = colbert.freeze_checkpoint(tmp_path / "again", settings())
    assert colbert.checkpoint_fingerprint(again) == colbert.checkpoint_fingerprint(checkpoint)
    other = colbert.freeze_checkpoint(tmp_path / "other", settings(encoder={"seed": 12}))
    assert colbert.checkpoint_fingerprint(other) != colbert.checkpoint_fingerprint(checkpoint)


def test_plaid_agrees_with_exhaustive_maxsim(corpus, checkpoint, index):
    queries, _ = copied_queries(corpus, seed=1)
    plaid = colbert.search(index, queries, settings(depth=10))
    exact = colbert.exhaustive_search(checkpoint, corpus, queries, k=10)
    overlap = sum(len(set(top(plaid[q])) & set(top(exact[q]))) / 10 for q in queries) / len(queries)
    assert overlap >= 0.6, f"PLAID vs exhaustive MaxSim overlap@10 = {overlap:.3f}"


def test_a_query_copied_from_a_passage_finds_it_in_the_top_10(corpus, index):
    queries, source = copied_queries(corpus, seed=2)
    run = colbert.search(index, queries, settings(depth=10))
    found = sum(source[q] in top(run[q]) for q in queries) / len(queries)
    assert found >= 0.8, f"copied queries whose passage is in the top 10: {found:.2f}"


def test_search_leaves_the_index_untouched(corpus, index):
    before = {p: p.stat().st_mtime_ns for p in index.folder.rglob("*")}
    colbert.search(index, {"q": next(iter(corpus.values()))}, settings(depth=5))
    assert {p: p.stat().st_mtime_ns for p in index.folder.rglob("*")} == before


def test_index_is_reused_for_the_same_corpus_and_checkpoint_and_rebuilt_when_either_changes(
    corpus, checkpoint, tmp_path, caplog
):
    small = dict(list(corpus.items())[:400])
    path = tmp_path / "index"
    colbert.build_index(small.items(), colbert.PlaidIndex(path, checkpoint), settings())
    stamp = (path / colbert.INDEX_META).stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="stagewise.first_stage.colbert"):
        colbert.build_index(small.items(), colbert.PlaidIndex(path, checkpoint), settings())
    assert "reusing the ColBERT index" in caplog.text
    assert (path / colbert.INDEX_META).stat().st_mtime_ns == stamp

    changed = dict(small, **{"d0": "a passage that was edited"})
    colbert.build_index(changed.items(), colbert.PlaidIndex(path, checkpoint), settings())
    stamp_corpus = (path / colbert.INDEX_META).stat().st_mtime_ns
    assert stamp_corpus != stamp

    other = colbert.freeze_checkpoint(tmp_path / "other", settings(encoder={"seed": 99}))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="stagewise.first_stage.colbert"):
        colbert.build_index(changed.items(), colbert.PlaidIndex(path, other), settings())
    assert "reusing" not in caplog.text
    assert (path / colbert.INDEX_META).stat().st_mtime_ns != stamp_corpus
    assert "a passage that was edited" in (path / "collection.tsv").read_text()
    assert json.loads((path / colbert.INDEX_META).read_text())["checkpoint"] == str(other)


def test_partitions_set_the_plaid_centroids_and_the_default_keeps_colbert_ais_rule(corpus, checkpoint, index, tmp_path):
    small = dict(list(corpus.items())[:400])
    built = colbert.build_index(
        small.items(), colbert.PlaidIndex(tmp_path / "plaid", checkpoint), settings(partitions=64)
    )
    plaid = built.folder / "plaid"
    assert json.loads((plaid / "plan.json").read_text())["num_partitions"] == 64
    assert torch.load(plaid / "centroids.pt").shape[0] == 64
    assert json.loads((built.folder / colbert.INDEX_META).read_text())["partitions"] == 64
    queries, source = copied_queries(small, n=20, seed=6)
    run = colbert.search(built, queries, settings(depth=10))
    assert sum(source[q] in top(run[q]) for q in queries) >= 0.8 * len(queries)
    # left out: colbert-ai's own count, and no key in the fingerprint (indexes built before the setting are reused)
    plan = json.loads((index.folder / "plaid" / "plan.json").read_text())
    assert plan["num_partitions"] == 2 ** int(math.floor(math.log2(16 * math.sqrt(plan["num_embeddings_est"]))))
    assert "partitions" not in json.loads((index.folder / colbert.INDEX_META).read_text())
    with pytest.raises(ConfigError, match="partitions: 100000 centroids but only"):
        colbert.build_index(
            small.items(), colbert.PlaidIndex(tmp_path / "big", checkpoint), settings(partitions=100000)
        )
    assert not (tmp_path / "big").exists()


def test_retrieve_writes_a_trec_run_of_the_requested_depth(tiny_dataset, checkpoint, tmp_path):
    from stagewise.io import read_run

    index = colbert.index_corpus(
        f"local:{tiny_dataset}", colbert.PlaidIndex(tmp_path / "index", checkpoint), settings()
    )
    colbert.retrieve(index, f"local:{tiny_dataset / 'test'}", tmp_path / "test.run", settings(depth=20))
    run = read_run(tmp_path / "test.run")
    assert len(run) == 8 and all(len(d) == 20 for d in run.values())


def test_an_encoder_base_that_is_not_a_bert_folder_is_named(tmp_path):
    from stagewise.errors import ConfigError

    with pytest.raises(ConfigError, match="no-such-encoder"):
        colbert.freeze_checkpoint(
            tmp_path / "ck",
            colbert.ColbertSettings.from_config(
                {"kind": "colbert", "encoder": {"base": str(tmp_path / "no-such-encoder")}}
            ),
        )


def test_a_plaid_index_missing_passages_or_files_is_not_trusted(index, corpus, tmp_path):
    import shutil

    colbert.check_plaid_index(index.folder / "plaid", len(corpus))  # the built one holds every passage
    with pytest.raises(RuntimeError, match=r"holds 1500 passages, the corpus 1501"):
        colbert.check_plaid_index(index.folder / "plaid", len(corpus) + 1)
    broken = tmp_path / "plaid"
    shutil.copytree(index.folder / "plaid", broken)
    (broken / "ivf.pid.pt").unlink()
    with pytest.raises(RuntimeError, match=r"lacks \['ivf\.pid\.pt'\]; was the disk full"):
        colbert.check_plaid_index(broken, len(corpus))
    next(broken.glob("doclens.*.json")).write_text("[1, 2")  # a truncated write
    with pytest.raises(RuntimeError, match=r"unreadable doclens file|lacks"):
        colbert.check_plaid_index(broken, len(corpus))


def test_a_killed_sharded_search_resumes_from_its_shards_and_equals_one_search(
    index, corpus, tmp_path, caplog, monkeypatch
):
    from stagewise.io import write_qrels, write_tsv

    # query batches of 8 against shards of 10: shard boundaries fall inside batches, and the run's lines must still
    # equal the unsharded search's byte for byte, on any processor (each query is encoded in the same batch either way)
    monkeypatch.setattr(colbert, "QUERY_BATCH", 8)
    queries, _ = copied_queries(corpus, n=25, seed=3)
    folder = tmp_path / "qs"
    write_tsv(queries, folder / "queries.tsv")
    write_qrels({q: {"d1": 1} for q in queries}, folder / "qrels.txt")
    (folder.parent / "docs.tsv").write_text("d1\ttext\n")
    spec = f"local:{folder}"

    def killed(n):
        if n == 1:
            raise RuntimeError("job killed")

    with pytest.raises(RuntimeError, match="job killed"):
        colbert.retrieve(
            index,
            spec,
            tmp_path / "out.run",
            settings(depth=10),
            shards=colbert.QueryShards(tmp_path / "shards", size=10, after_shard=killed),
        )
    assert sorted(p.name for p in (tmp_path / "shards").glob("*.run")) == ["00000.run", "00001.run"]
    assert not (tmp_path / "out.run").exists()
    searched = []
    with caplog.at_level(logging.INFO):
        colbert.retrieve(
            index,
            spec,
            tmp_path / "out.run",
            settings(depth=10),
            shards=colbert.QueryShards(tmp_path / "shards", size=10, after_shard=searched.append),
        )
    assert searched == [2] and "2 of 3 shards already in" in caplog.text
    colbert.retrieve(index, spec, tmp_path / "one.run", settings(depth=10))
    assert without_header(tmp_path / "out.run") == without_header(tmp_path / "one.run")
    recorded = read(tmp_path / "out.run")["method"]  # the header: its provenance record
    assert recorded["checkpoint_fingerprint"] == colbert.checkpoint_fingerprint(index.checkpoint)
    assert not (tmp_path / "shards").exists()


def test_torch_kmeans_builds_an_index_that_finds_copied_passages(corpus, checkpoint, tmp_path):
    index = colbert.build_index(
        corpus.items(), colbert.PlaidIndex(tmp_path / "plaid", checkpoint), settings(kmeans="torch")
    )
    assert json.loads((index.folder / colbert.INDEX_META).read_text())["kmeans"] == "torch"
    queries, source = copied_queries(corpus, n=20, seed=4)
    run = colbert.search(index, queries, settings(depth=10))
    assert sum(source[q] in top(run[q]) for q in queries) >= 0.8 * len(queries)


def test_the_extensions_command_leaves_every_cpu_extension_in_the_cache():
    """`stagewise colbert-extensions` compiles (or finds) the four C++ extensions a CPU index and search load."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run(
        [str(Path(sys.executable).with_name("stagewise")), "colbert-extensions"],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    cache = Path(out.stdout.strip())
    assert cache == Path(os.environ["TORCH_EXTENSIONS_DIR"])
    for name in colbert.EXTENSION_NAMES:
        assert list((cache / name).glob(f"{name}*.so")), f"{name} is not compiled in {cache}"
    assert colbert.extensions_built()


def test_a_failing_extension_build_stops_with_the_class_and_its_output(monkeypatch):
    """Each class's extensions build in a fresh interpreter (a Snakemake job's script would run again in a
    multiprocessing child); one that fails stops the build with its name and what it printed."""
    monkeypatch.setattr(colbert, "EXTENSION_LOADERS", ("colbert.no_such_module:Nothing",))
    with pytest.raises(RuntimeError, match=r"(?s)colbert\.no_such_module:Nothing failed.*No module named"):
        colbert.build_extensions(processes=1)


def test_extensions_built_needs_every_library(tmp_path, monkeypatch):
    """The index job skips its compile step only when all four libraries are in the cache."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    assert not colbert.extensions_built()
    for name in colbert.EXTENSION_NAMES[:-1]:
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.so").write_bytes(b"")
    assert not colbert.extensions_built()
    last = colbert.EXTENSION_NAMES[-1]
    (tmp_path / last).mkdir()
    (tmp_path / last / f"{last}.so").write_bytes(b"")
    assert colbert.extensions_built()
