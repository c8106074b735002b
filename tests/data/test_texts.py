"""One way to passage texts: the offset index, ir_datasets' docstore and an in-memory store answer alike, and
corpus_texts opens the one a corpus has."""

import pytest

from stagewise.data import datasets
from stagewise.data.docstore import OffsetDocStore, build_offset_index
from stagewise.data.texts import InMemoryTexts, IrDatasetsDocStore, PassageTexts, as_texts, corpus_texts
from stagewise.errors import InputFormatError


@pytest.fixture
def stores(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "ird"))
    build_offset_index(tiny_dataset / "docs.tsv", tmp_path / "store")
    corpus = f"local:{tiny_dataset}"
    return {
        "offset": corpus_texts(corpus, tmp_path / "store"),
        "memory": corpus_texts(corpus),
        "ir_datasets": IrDatasetsDocStore(corpus),
    }, dict(datasets.iter_docs(corpus))


def test_every_store_answers_the_protocol_with_the_same_texts(stores):
    stores, expected = stores
    assert isinstance(stores["offset"], OffsetDocStore) and isinstance(stores["memory"], InMemoryTexts)
    for name, store in stores.items():
        assert isinstance(store, PassageTexts), name
        assert store["d5"] == expected["d5"] and "d5" in store and "nope" not in store, name
        assert store.get_many(["d1", "nope", "d2"]) == {"d1": expected["d1"], "d2": expected["d2"]}, name
        assert store.missing({"nope", "d3", "also-not"}) == ["also-not", "nope"], name
        assert store.missing(["zz", "d3", "aa"]) == ["zz", "aa"], name
        assert store.reopen()["d9"] == expected["d9"], name
    assert list(stores["offset"].docids) == stores["memory"].docids == sorted(expected)


def test_a_local_corpus_without_an_index_reads_only_the_wanted_texts(tiny_dataset):
    store = corpus_texts(f"local:{tiny_dataset}", docids={"d1", "d4"})
    assert len(store) == 2 and store.docids == ["d1", "d4"]


def test_a_malformed_line_names_the_file_and_line(tmp_path):
    (tmp_path / "docs.tsv").write_text("d1\tone\nd2 without a tab\n")
    with pytest.raises(InputFormatError, match=r"docs\.tsv:2: expected 'docid<TAB>text'"):
        corpus_texts(f"local:{tmp_path}")


def test_a_dict_is_held_as_an_in_memory_store_and_a_store_as_it_is(tiny_dataset, tmp_path):
    held = as_texts({"b": "two", "a": "one"})
    assert isinstance(held, InMemoryTexts) and held.docids == ["a", "b"] and held["a"] == "one"
    build_offset_index(tiny_dataset / "docs.tsv", tmp_path / "store")
    store = OffsetDocStore(tmp_path / "store")
    assert as_texts(store) is store
