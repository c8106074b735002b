import pytest

from stagewise.first_stage import bm25
from stagewise.schema import load_schema


def settings(**given):
    return bm25.Bm25Settings.from_config({"kind": "bm25", **given})


def test_the_settings_have_a_field_per_key_of_the_schema_section():
    from dataclasses import fields

    section = load_schema()["definitions"]["bm25_ranker"]["properties"]
    assert {f.name for f in fields(bm25.Bm25Settings)} == set(section)
    given = settings(depth=10)  # the schema's defaults for the keys left out
    assert (given.k1, given.b, given.depth) == (section["k1"]["default"], section["b"]["default"], 10)
    with pytest.raises(ValueError, match=r"unknown config key 'bm25_ranker\.k'"):
        settings(k=10)


def test_real_lucene_index_and_bm25_search(tmp_path):
    docs = [
        ("d1", "the cat sat on the mat"),
        ("d2", "dogs chase cats in the park"),
        ("d3", "stock markets fell sharply today"),
        ("d4", "a cat and a dog"),
    ]
    index = bm25.build_index(docs, tmp_path / "index")
    run = bm25.search(index, {"q1": "cat mat", "q2": "stock markets"}, settings(depth=3))
    assert next(iter(sorted(run["q1"].items(), key=lambda x: -x[1])))[0] == "d1"
    assert max(run["q2"], key=run["q2"].get) == "d3"
    assert len(run["q1"]) <= 3 and all(s > 0 for s in run["q1"].values())


def test_index_corpus_and_retrieve_write_a_trec_run(tiny_dataset, tmp_path):
    from stagewise.io import read_run
    from stagewise.provenance import read

    index = bm25.index_corpus(f"local:{tiny_dataset}", tmp_path / "index")
    bm25.retrieve(index, f"local:{tiny_dataset / 'test'}", tmp_path / "test.run", settings(depth=10))
    run = read_run(tmp_path / "test.run")
    assert len(run) == 8 and all(len(d) == 10 for d in run.values())
    record = read(tmp_path / "test.run")  # its ir_metadata header
    assert record["tag"] == "bm25" and record["method"]["bm25"]["depth"] == 10


def test_an_index_the_disk_could_not_hold_fails_the_build_and_leaves_no_index(full_disk):
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(5000)]
    docs = [(f"d{i}", " ".join(rng.choices(words, k=200))) for i in range(3000)]  # about 6 MB of text
    with pytest.raises(RuntimeError, match=r"Lucene index at .* (does not open|holds \d+ documents, the corpus 3000)"):
        bm25.build_index(docs, full_disk / "index")
    assert not (full_disk / "index").exists()


def test_retrieval_in_query_batches_writes_the_run_one_search_would(tiny_dataset, tmp_path):
    from stagewise.io import read_run, without_header

    index = bm25.index_corpus(f"local:{tiny_dataset}", tmp_path / "index")
    spec = f"local:{tiny_dataset / 'train'}"
    assert bm25.retrieve(index, spec, tmp_path / "batched.run", settings(depth=50), batch=7) == 40
    bm25.retrieve(index, spec, tmp_path / "one.run", settings(depth=50), batch=1000)
    assert without_header(tmp_path / "batched.run") == without_header(tmp_path / "one.run")
    assert len(read_run(tmp_path / "batched.run")) == 40


def test_the_jvm_heap_follows_the_jobs_memory():
    import os
    import subprocess
    import sys

    code = (
        "import stagewise.first_stage.bm25\nfrom pyserini.search.lucene import LuceneSearcher\n"
        "from jnius import autoclass\nprint(autoclass('java.lang.Runtime').getRuntime().maxMemory() // 2**20)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "STAGEWISE_JVM_HEAP_MB": "700"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert 600 <= int(out.stdout.split()[-1]) <= 700
