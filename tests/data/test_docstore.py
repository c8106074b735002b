"""Passage texts by id from a store: the offset index of a local docs.tsv, and ir_datasets' docstore."""

import pytest

from stagewise.data import datasets
from stagewise.data.docstore import OffsetDocStore, build_offset_index
from stagewise.data.texts import IrDatasetsDocStore, doc_texts
from stagewise.errors import InputFormatError


def test_the_offset_index_returns_every_text_of_the_file(tiny_dataset, tmp_path):
    docs = tiny_dataset / "docs.tsv"
    meta = build_offset_index(docs, tmp_path / "store")
    store = OffsetDocStore(tmp_path / "store")
    expected = dict(datasets.iter_docs(f"local:{tiny_dataset}"))
    assert meta["documents"] == len(store) == len(expected) == 600
    assert all(store[d] == text for d, text in expected.items())
    assert "d7" in store and "nope" not in store
    with pytest.raises(KeyError):
        store["nope"]
    assert doc_texts(f"local:{tiny_dataset}", ["d3", "d599"], tmp_path / "store") == {
        "d3": expected["d3"],
        "d599": expected["d599"],
    }


def test_a_corpus_changed_after_its_index_was_built_is_refused(tiny_dataset, tmp_path):
    docs = tiny_dataset / "docs.tsv"
    build_offset_index(docs, tmp_path / "store")
    docs.write_text(docs.read_text().replace("\t", "\tchanged ", 1))
    with pytest.raises(InputFormatError, match=r"docs\.tsv: changed since its document store .* was built"):
        OffsetDocStore(tmp_path / "store")


def test_ir_datasets_docstore_serves_the_same_texts(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "ird"))
    store = IrDatasetsDocStore(f"local:{tiny_dataset}")
    expected = dict(datasets.iter_docs(f"local:{tiny_dataset}"))
    assert store["d5"] == expected["d5"] and "d5" in store
    assert store.get_many(["d1", "d2"]) == {"d1": expected["d1"], "d2": expected["d2"]}


def test_an_index_of_another_layout_is_refused_with_how_to_rebuild(tiny_dataset, tmp_path):
    import json

    build_offset_index(tiny_dataset / "docs.tsv", tmp_path / "store")
    meta = json.loads((tmp_path / "store" / "meta.json").read_text())
    (tmp_path / "store" / "meta.json").write_text(json.dumps({**meta, "format": 1}))
    with pytest.raises(InputFormatError, match=r"layout 1, this stagewise reads layout 2: delete the folder"):
        OffsetDocStore(tmp_path / "store")


def _read_in_child(store, docid, queue):
    queue.put(store[docid])


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_copies_and_worker_processes_read_through_handles_of_their_own(tiny_dataset, tmp_path, method):
    """CI once failed with EBADF in a DataLoader worker: the store kept a raw descriptor, and a copy of the object
    closed it under the others. Copies, pickles and forked or spawned processes each open their own."""
    import copy
    import gc
    import multiprocessing
    import pickle

    build_offset_index(tiny_dataset / "docs.tsv", tmp_path / "store")
    store = OffsetDocStore(tmp_path / "store")
    expected = store["d5"]
    for duplicate in (copy.copy(store), copy.deepcopy(store), pickle.loads(pickle.dumps(store))):
        assert duplicate["d5"] == expected
        del duplicate
        gc.collect()
        assert store["d7"] and store["d5"] == expected
    context = multiprocessing.get_context(method)
    queue = context.Queue()
    child = context.Process(target=_read_in_child, args=(store, "d9", queue))
    child.start()
    assert queue.get(timeout=60) == store["d9"]
    child.join(60)
    assert child.exitcode == 0 and store["d5"] == expected


def test_a_copied_project_reads_its_own_docs_not_the_originals(tmp_path):
    import shutil

    from stagewise.data.docstore import OffsetDocStore, build_offset_index

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "docs.tsv").write_text("d1\tthe original text\n")
    build_offset_index(project / "data" / "docs.tsv", project / "resources" / "store")
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    (project / "data" / "docs.tsv").write_text("d1\tchanged after the copy\n")  # the original moves on
    store = OffsetDocStore(copy / "resources" / "store")
    assert store["d1"] == "the original text" and store.path.resolve() == (copy / "data" / "docs.tsv").resolve()


def test_a_corpus_replaced_with_the_same_size_and_date_is_noticed(tmp_path):
    import os

    from stagewise.data.docstore import OffsetDocStore, build_offset_index
    from stagewise.errors import InputFormatError

    docs = tmp_path / "docs.tsv"
    docs.write_text("d1\tcats purr\nd2\tdogs bark\n")
    build_offset_index(docs, tmp_path / "store")
    stat = docs.stat()
    docs.write_text("d1\tcats hiss\nd2\tdogs bark\n")  # same size; the date put back as cp -p would
    os.utime(docs, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(InputFormatError, match="docs.tsv: is not the file .*store was built from"):
        OffsetDocStore(tmp_path / "store")
