import pytest

from stagewise.data import datasets
from stagewise.data.texts import doc_texts
from stagewise.errors import InputFormatError


def test_local_folder_reads_through_ir_datasets(tiny_dataset):
    spec = f"local:{tiny_dataset / 'test'}"
    queries = datasets.queries(spec)
    qrels = datasets.qrels(spec)
    assert len(queries) == 8 and set(qrels) == set(queries)
    docids = list(next(iter(qrels.values())))[:3]
    texts = doc_texts(spec, docids)
    assert set(texts) == set(docids) and all(texts.values())
    assert sum(1 for _ in datasets.iter_docs(spec)) == 600


def test_malformed_local_qrels_names_file_and_line(tiny_dataset):
    folder = tiny_dataset / "test"
    (folder / "qrels.txt").write_text("q1 0 d1 1\nq1 0 d2 high\n")
    with pytest.raises(InputFormatError, match=r"qrels\.txt:2: relevance grade 'high'"):
        datasets.load(f"local:{folder}")


def test_unknown_documents_are_reported(tiny_dataset):
    with pytest.raises(InputFormatError, match="1 documents not in the corpus"):
        doc_texts(f"local:{tiny_dataset}", ["d0", "nope"])


def _break(folder, name, text):
    (folder / name).write_text(text, encoding="utf-8")
    return f"local:{folder}"


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("queries.tsv", "", r"queries\.tsv: no qid<TAB>text lines: the file is empty"),
        (
            "queries.tsv",
            "\ufeffq120\tfirst query\nq121\tsecond\n",
            r"queries\.tsv:1: starts with a UTF-8 byte-order mark",
        ),
        ("queries.tsv", "q1\tone\nq2\ttwo\nq1\tagain\n", r"queries\.tsv:3: qid 'q1' appears twice \(line 1 and here\)"),
        ("queries.tsv", "q1\tone\n   \nq2\ttwo\n", r"queries\.tsv:2: blank line"),
        ("queries.tsv", "q1\tone\nq2 two\n", r"queries\.tsv:2: expected 2 tab-separated columns 'qid<TAB>text', got 1"),
        (
            "qrels.txt",
            "q1 0 d1 2\nq1 0 d2 0\nq1 0 d1 0\n",
            r"qrels\.txt:3: query 'q1', document 'd1' is judged 2 on "
            r"line 1 and 0 here",
        ),
        ("qrels.txt", "\ufeffq1 0 d1 2\n", r"qrels\.txt:1: starts with a UTF-8 byte-order mark"),
    ],
)
def test_query_and_qrels_files_that_parse_but_cannot_be_right_stop_with_file_and_line(
    tiny_dataset, name, text, message
):
    spec = _break(tiny_dataset / "test", name, text)
    with pytest.raises(InputFormatError, match=message):
        datasets.load(spec)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda lines: lines + [lines[4]], r"docs\.tsv:601: docid 'd4' appears twice \(line 5 and here\)"),
        (lambda lines: lines[:9] + ["d9 text without a tab"] + lines[10:], r"docs\.tsv:10: expected 2 tab-separated"),
    ],
)
def test_a_corpus_with_a_duplicate_docid_or_a_line_without_a_tab_stops_with_file_and_line(tiny_dataset, edit, message):
    docs = tiny_dataset / "docs.tsv"
    docs.write_text("\n".join(edit(docs.read_text().splitlines())) + "\n")
    with pytest.raises(InputFormatError, match=message):
        datasets.load(f"local:{tiny_dataset / 'test'}")


def test_repeated_identical_judgments_are_counted_not_fatal(tiny_dataset, caplog):
    folder = tiny_dataset / "test"
    lines = (folder / "qrels.txt").read_text().splitlines()
    (folder / "qrels.txt").write_text("\n".join(lines + lines[:2]) + "\n")
    with caplog.at_level("WARNING"):
        datasets.load(f"local:{folder}")
    assert "2 repeated identical judgments" in caplog.text


def test_an_unprepared_ir_datasets_id_stops_at_once_naming_the_rule_that_prepares_it(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGEWISE_PREPARED_DATASETS", str(tmp_path / "prepared"))
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "home"))
    with pytest.raises(InputFormatError, match=r"msmarco-passage/dev/small: not prepared .*the prepare_dataset rule"):
        datasets.queries("msmarco-passage/dev/small")
    assert not [p for p in (tmp_path / "home").rglob("*") if p.is_file()]  # nothing was downloaded


def test_a_corpus_is_checked_once_per_version(tiny_dataset, monkeypatch):
    docs = tiny_dataset / "docs.tsv"
    datasets.load(f"local:{tiny_dataset / 'test'}")  # checked and remembered
    datasets._validated_docs.cache_clear()

    def must_not_run(path):
        raise AssertionError("checked again")

    monkeypatch.setattr(datasets, "validate_docs", must_not_run)
    stat = docs.stat()
    assert datasets._validated_docs(str(docs.resolve()), stat.st_size, stat.st_mtime_ns) == 600
    docs.write_text(docs.read_text() + "d600\tone more passage\n")  # a new version is checked again
    stat = docs.stat()
    with pytest.raises(AssertionError, match="checked again"):
        datasets._validated_docs(str(docs.resolve()), stat.st_size, stat.st_mtime_ns)
