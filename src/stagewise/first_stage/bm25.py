"""BM25 with pyserini: a Lucene index once per corpus, top-k TREC runs per query set."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..io import atomic_path
from ..logs import Progress
from ..settings import settings_from
from . import java  # noqa: F401  (must precede pyserini)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bm25Settings:
    """A bm25 ranker's config section (the schema's definitions.bm25_ranker)."""

    kind: str
    k1: float
    b: float
    depth: int
    rerank: bool

    @classmethod
    def from_config(cls, section: dict) -> Bm25Settings:
        """From a validated ``rankers.<name>`` section; keys it leaves out take the schema's defaults."""
        return settings_from(cls, "definitions.bm25_ranker", section)


def build_index(docs: Iterable[tuple[str, str]], index_dir, threads: int = 1) -> Path:
    """Index (docid, text) pairs into a Lucene index at ``index_dir`` (written atomically)."""
    from pyserini.index.lucene import LuceneIndexer

    index_dir = Path(index_dir)
    with atomic_path(index_dir) as tmp:
        indexer = LuceneIndexer(str(tmp), threads=threads)
        n, batch = 0, []
        progress = Progress(log, "BM25 index", None, "documents", every=500_000)
        for docid, text in docs:
            batch.append(json.dumps({"id": docid, "contents": text}))
            if len(batch) == 5000:
                indexer.add_batch_raw(batch)
                n, batch = n + len(batch), []
                progress.update(n)
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
        raise RuntimeError(
            f"the Lucene index at {index_dir} does not open ({type(e).__name__}: {e}); was the disk "
            "full? (pyserini's log above says)"
        ) from None
    if documents != expected:
        raise RuntimeError(
            f"the Lucene index at {index_dir} holds {documents} documents, the corpus {expected}; was "
            "the disk full? (pyserini's log above says)"
        )


def _searcher(index_dir: str):
    """One searcher per index and process (a batched retrieval opens the index once)."""
    return _open_searcher(index_dir, Path(index_dir).stat().st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _open_searcher(index_dir: str, mtime_ns: int):
    from pyserini.search.lucene import LuceneSearcher

    return LuceneSearcher(index_dir)


def search(index_dir, queries: dict[str, str], settings: Bm25Settings, threads: int = 1):
    """BM25 top-``settings.depth`` for every query: qid -> {docid: score}."""
    searcher = _searcher(str(index_dir))
    searcher.set_bm25(settings.k1, settings.b)
    qids = list(queries)
    hits = searcher.batch_search([queries[q] for q in qids], qids, k=settings.depth, threads=threads)
    return {qid: {h.docid: float(h.score) for h in hits.get(qid, [])} for qid in qids}


def index_corpus(corpus: str, index_dir, threads: int = 1) -> Path:
    """Index the corpus of a dataset spec (ir_datasets id or local:<folder>)."""
    from ..data import datasets

    return build_index(datasets.iter_docs(corpus), index_dir, threads=threads)


def retrieve(index_dir, queries: str, out_path, settings: Bm25Settings, threads: int = 1, batch: int = 1000):
    """BM25 top-``settings.depth`` for every query of a dataset spec, written as a TREC run (atomically). Queries are
    searched ``batch`` at a time and written as they finish: dev/small at depth 1000 is 7M hits, which one
    batch_search call would hold in the JVM and in Python at once. Returns the number of queries."""
    from ..data import datasets
    from ..io import RunWriter
    from ..provenance import record

    all_queries = datasets.queries(queries)
    qids = sorted(all_queries)
    progress = Progress(log, "BM25 retrieval", len(qids), "queries")
    header = record(tag="bm25", index=index_dir, queries=queries, bm25=asdict(settings))
    with RunWriter(out_path, tag="bm25", header=header) as writer:
        for start in range(0, len(qids), batch):
            chunk = qids[start : start + batch]
            writer.write(search(index_dir, {q: all_queries[q] for q in chunk}, settings, threads))
            progress.update(min(start + batch, len(qids)))
    return len(qids)
