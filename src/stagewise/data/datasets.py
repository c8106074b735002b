"""One interface over ir_datasets ids and local dataset folders.

A local folder holds ``queries.tsv`` (qid<TAB>text) and ``qrels.txt`` (TREC qrels), and optionally
``scoreddocs.run`` (a TREC run); documents are ``docs.tsv`` (docid<TAB>text) in the folder or its parent.
Such folders are registered with ir_datasets under ``local:<path>``, so every caller reads the same API.
Local files are validated first with our readers, which name the file and line of a malformed entry.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from ..errors import InputFormatError
from ..io import read_qrels, read_queries, validate_docs
from ..locations import PREPARED_DATASETS, VALIDATED_CORPORA

LOCAL_PREFIX = "local:"


def is_local(spec: str) -> bool:
    return spec.startswith(LOCAL_PREFIX)


def local_folder(spec: str) -> Path:
    return Path(spec[len(LOCAL_PREFIX) :])


def local_docs_file(folder: Path) -> Path:
    for candidate in (folder / "docs.tsv", folder.parent / "docs.tsv"):
        if candidate.exists():
            return candidate
    raise InputFormatError(folder / "docs.tsv", "no docs.tsv in the dataset folder or its parent")


def _register_local(spec: str):
    import ir_datasets
    from ir_datasets.datasets.base import Dataset
    from ir_datasets.formats import TrecQrels, TrecScoredDocs, TsvDocs, TsvQueries
    from ir_datasets.util import LocalDownload

    folder = local_folder(spec)
    if not folder.is_dir():
        raise InputFormatError(folder, "dataset folder not found")
    parts = []
    if (folder / "docs.tsv").exists() or (folder.parent / "docs.tsv").exists():
        docs = local_docs_file(folder)
        _validated_docs(str(docs.resolve()), docs.stat().st_size, docs.stat().st_mtime_ns)
        parts.append(TsvDocs(LocalDownload(docs, mkdir=False)))
    if (folder / "queries.tsv").exists():
        read_queries(folder / "queries.tsv")  # validate: names file and line on error
        parts.append(TsvQueries(LocalDownload(folder / "queries.tsv", mkdir=False)))
    if (folder / "qrels.txt").exists():
        read_qrels(folder / "qrels.txt")
        parts.append(TrecQrels(LocalDownload(folder / "qrels.txt", mkdir=False), {}))
    if (folder / "scoreddocs.run").exists():
        parts.append(TrecScoredDocs(LocalDownload(folder / "scoreddocs.run", mkdir=False)))
    ir_datasets.registry.register(spec, Dataset(*parts))


@cache
def _validated_docs(path: str, size: int, mtime_ns: int) -> int:
    """A corpus file is checked once per version, not in every job: test sets and training share one docs.tsv,
    and checking 8.8M lines costs about 30 s and 1 GB. The marker is written only after a complete check."""
    import hashlib

    marker = VALIDATED_CORPORA / f"{hashlib.sha1(path.encode()).hexdigest()[:16]}-{size}-{mtime_ns}.ok"
    if marker.exists():
        return int(marker.read_text())
    count = validate_docs(path)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(str(count))
    os.replace(tmp, marker)
    return count


@cache
def load(spec: str):
    """An ir_datasets dataset for an ir_datasets id or ``local:<folder>``."""
    import ir_datasets  # imported here: the workflow's common.smk imports this module for its path helpers

    if is_local(spec):
        if spec not in ir_datasets.registry:
            _register_local(spec)
    elif spec not in ir_datasets.registry:
        raise InputFormatError(
            spec,
            "not an ir_datasets id (see https://ir-datasets.com); a local dataset folder is written local:<folder>",
        )
    else:
        _check_prepared(spec)
    return ir_datasets.load(spec)


def _check_prepared(spec: str):
    """In a workflow job, an ir_datasets id must have been prepared on the submitting host: fail fast instead of
    starting a download (every job at once, often on a node without the network)."""
    import os

    from .prepare import PREPARED_ENV, marker_path

    root = os.environ.get(PREPARED_ENV)
    if root and not marker_path(root, spec).exists():
        raise InputFormatError(
            spec,
            f"not prepared ({marker_path(root, spec)} is absent): the prepare_dataset rule "
            "downloads it and builds its docstore on the submitting host; run "
            f"`snakemake {marker_path(PREPARED_DATASETS, spec)}` there",
        )


def queries(spec: str) -> dict[str, str]:
    return {q.query_id: q.text for q in load(spec).queries_iter()}


def qrels(spec: str) -> dict[str, dict[str, int]]:
    if is_local(spec):
        # read by stagewise (validated; gzip and '#' comment lines allowed), not through ir_datasets' TREC reader
        load(spec)
        path = local_folder(spec) / "qrels.txt"
        return read_qrels(path) if path.exists() else {}
    out: dict[str, dict[str, int]] = {}
    for q in load(spec).qrels_iter():
        out.setdefault(q.query_id, {})[q.doc_id] = int(q.relevance)
    return out


def iter_docs(spec: str):
    """(docid, text) for every document of the dataset's corpus."""
    for doc in load(spec).docs_iter():
        yield doc.doc_id, doc.default_text()
