"""BM25 with pyserini: a Lucene index once per corpus, top-k TREC runs per query set."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from . import java  # noqa: F401  (must precede pyserini)
from ..io import atomic_path

log = logging.getLogger(__name__)


def build_index(docs: Iterable[tuple[str, str]], index_dir, threads: int = 1) -> Path:
    """Index (docid, text) pairs into a Lucene index at ``index_dir`` (written atomically)."""
    from pyserini.index.lucene import LuceneIndexer

    index_dir = Path(index_dir)
    with atomic_path(index_dir) as tmp:
        indexer = LuceneIndexer(str(tmp), threads=threads)
        n, batch = 0, []
        for docid, text in docs:
            batch.append(json.dumps({"id": docid, "contents": text}))
            if len(batch) == 5000:
                indexer.add_batch_raw(batch)
                n, batch = n + len(batch), []
        if batch:
            indexer.add_batch_raw(batch)
            n += len(batch)
        indexer.close()
        check_index(tmp, n)
        log.info("indexed %d documents into %s", n, index_dir)
    return index_dir


def check_index(index_dir, expected: int):
    """Open a freshly built index and compare its document count with the corpus's: pyserini logs a failed
    write (a full disk, say) and returns normally, leaving an index that every later search would trust."""
    from pyserini.index.lucene import LuceneIndexReader

    try:
        documents = LuceneIndexReader(str(index_dir)).stats()["documents"]
    except Exception as e:  # a JVM exception: no segments, a truncated file
        raise RuntimeError(f"the Lucene index at {index_dir} does not open ({type(e).__name__}: {e}); was the disk "
                           "full? (pyserini's log above says)") from None
    if documents != expected:
        raise RuntimeError(f"the Lucene index at {index_dir} holds {documents} documents, the corpus {expected}; was "
                           "the disk full? (pyserini's log above says)")


def search(index_dir, queries: dict[str, str], k: int = 100, k1: float = 0.9, b: float = 0.4, threads: int = 1):
    """BM25 top-k for every query: qid -> {docid: score}."""
    from pyserini.search.lucene import LuceneSearcher

    searcher = LuceneSearcher(str(index_dir))
    searcher.set_bm25(k1, b)
    qids = list(queries)
    hits = searcher.batch_search([queries[q] for q in qids], qids, k=k, threads=threads)
    return {qid: {h.docid: float(h.score) for h in hits.get(qid, [])} for qid in qids}


def index_corpus(corpus: str, index_dir, threads: int = 1) -> Path:
    """Index the corpus of a dataset spec (ir_datasets id or local:<folder>)."""
    from ..data import datasets

    return build_index(datasets.iter_docs(corpus), index_dir, threads=threads)


def retrieve(index_dir, queries: str, out_path, k1: float = 0.9, b: float = 0.4, depth: int = 100, threads: int = 1):
    """BM25 top-``depth`` for every query of a dataset spec, written as a TREC run."""
    from ..data import datasets
    from ..io import write_run

    run = search(index_dir, datasets.queries(queries), k=depth, k1=k1, b=b, threads=threads)
    write_run(run, out_path, tag="bm25")
    return run
