import pytest

from stagewise.data import datasets
from stagewise.errors import InputFormatError


def test_local_folder_reads_through_ir_datasets(tiny_dataset):
    spec = f"local:{tiny_dataset / 'test'}"
    queries = datasets.queries(spec)
    qrels = datasets.qrels(spec)
    assert len(queries) == 8 and set(qrels) == set(queries)
    docids = list(next(iter(qrels.values())))[:3]
    texts = datasets.doc_texts(spec, docids)
    assert set(texts) == set(docids) and all(texts.values())
    assert sum(1 for _ in datasets.iter_docs(spec)) == 600


def test_malformed_local_qrels_names_file_and_line(tiny_dataset):
    folder = tiny_dataset / "test"
    (folder / "qrels.txt").write_text("q1 0 d1 1\nq1 0 d2 high\n")
    with pytest.raises(InputFormatError, match=r"qrels\.txt:2: relevance grade 'high'"):
        datasets.load(f"local:{folder}")


def test_unknown_documents_are_reported(tiny_dataset):
    with pytest.raises(InputFormatError, match="1 documents not in the corpus"):
        datasets.doc_texts(f"local:{tiny_dataset}", ["d0", "nope"])
