"""Training candidates for C, prepared once: per training query its top-``depth`` passages of a training run (by
the run's rank column) and its qrels positives, as integer arrays with offsets that every C job memory-maps.

At MS MARCO size the ColBERTv2 training run has 251M lines (502,939 queries x 500); parsed into Python dicts it
takes about 31 GB and 4 minutes in every job. The store keeps the top 200 as int32 indices into one docid
vocabulary: about 400 MB, opened in milliseconds.

Folder layout (numpy ``.npy`` files, loaded with ``mmap_mode='r'``):
``qids`` (query ids), ``docids`` (the vocabulary), ``pool_offsets``/``pool`` (query i's pool is
``pool[pool_offsets[i]:pool_offsets[i + 1]]``, best first), ``positive_offsets``/``positives``/``grades`` (its
qrels judgments with grade > 0) and ``meta.json`` (source, depth, counts).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import InputFormatError
from ..io import Qrels, atomic_path, check_identity, file_identity, run_lines, sorted_ranking

log = logging.getLogger(__name__)

ARRAYS = ("qids", "docids", "pool_offsets", "pool", "positive_offsets", "positives", "grades")
#: the store's layout; a store of another layout (another stagewise) is rebuilt, not misread
FORMAT = 1


class Candidates:
    """A query -> (pool, judged positives) mapping over arrays (a store folder, or built in memory)."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict | None = None):
        self.arrays, self.meta = arrays, meta or {}
        self.qids = arrays["qids"]
        self.docids = arrays["docids"]

    @classmethod
    def open(cls, folder, source=None) -> Candidates:
        """The store at ``folder``; with ``source`` (the training run), stop unless it is the file the store was
        built from (see ``stagewise.io.file_identity``; a source deleted since is not checked)."""
        folder = Path(folder)
        if not (folder / "meta.json").exists():
            raise InputFormatError(
                folder, "not a training candidates store (no meta.json); the training_candidates rule builds it"
            )
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            raise InputFormatError(
                folder,
                f"a candidates store of layout {meta.get('format')}, this stagewise reads "
                f"layout {FORMAT}: delete the folder, the training_candidates rule rebuilds it",
            )
        if source is not None and Path(source).exists() and "source_identity" in meta:
            check_identity(source, meta["source_identity"], folder)
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
        return cls(arrays, meta)

    @classmethod
    def from_rankings(cls, rankings: dict[str, list[str]], qrels: Qrels) -> Candidates:
        """The same structure from in-memory rankings (small data, tests), in their order (a run read from a file:
        the file's, as a store keeps it)."""
        builder = _Builder()
        for qid in rankings:
            builder.add(qid, rankings[qid], qrels.get(qid, {}))
        return cls(builder.arrays())

    @classmethod
    def from_run(cls, run, qrels: Qrels) -> Candidates:
        """From in-memory rankings: qid -> docids best first, or qid -> {docid: score} (ordered by score)."""
        return cls.from_rankings(
            {q: list(r) if isinstance(r, list) else [d for d, _ in sorted_ranking(r)] for q, r in run.items()}, qrels
        )

    def __len__(self):
        return len(self.qids)

    def pool(self, i: int) -> list[str]:
        a = self.arrays
        return self.docids[a["pool"][a["pool_offsets"][i] : a["pool_offsets"][i + 1]]].tolist()

    def judged(self, i: int) -> dict[str, int]:
        a = self.arrays
        lo, hi = a["positive_offsets"][i], a["positive_offsets"][i + 1]
        return dict(zip(self.docids[a["positives"][lo:hi]].tolist(), a["grades"][lo:hi].tolist()))


class _Builder:
    """Accumulates queries into flat arrays; docids are interned into one vocabulary."""

    def __init__(self):
        self.vocabulary: dict[str, int] = {}
        self.qids: list[str] = []
        self.pool = np.empty(1 << 20, dtype=np.int32)
        self.pool_size = 0
        self.pool_offsets = [0]
        self.positives: list[int] = []
        self.grades: list[int] = []
        self.positive_offsets = [0]

    def _ids(self, docids):
        vocabulary = self.vocabulary
        return [vocabulary.setdefault(d, len(vocabulary)) for d in docids]

    def add(self, qid: str, ranking: list[str], judged: dict[str, int]):
        ids = self._ids(ranking)
        while self.pool_size + len(ids) > len(self.pool):
            self.pool = np.resize(self.pool, 2 * len(self.pool))
        self.pool[self.pool_size : self.pool_size + len(ids)] = ids
        self.pool_size += len(ids)
        self.pool_offsets.append(self.pool_size)
        relevant = sorted((d, g) for d, g in judged.items() if g > 0)
        self.positives += self._ids([d for d, _ in relevant])
        self.grades += [g for _, g in relevant]
        self.positive_offsets.append(len(self.positives))
        self.qids.append(qid)

    def arrays(self) -> dict[str, np.ndarray]:
        docids = np.empty(len(self.vocabulary), dtype=f"<U{max(map(len, self.vocabulary), default=1)}")
        for docid, i in self.vocabulary.items():
            docids[i] = docid
        return {
            "qids": np.array(self.qids, dtype=f"<U{max(map(len, self.qids), default=1)}"),
            "docids": docids,
            "pool_offsets": np.array(self.pool_offsets, dtype=np.int64),
            "pool": self.pool[: self.pool_size].copy(),
            "positive_offsets": np.array(self.positive_offsets, dtype=np.int64),
            "positives": np.array(self.positives, dtype=np.int32),
            "grades": np.array(self.grades, dtype=np.int16),
        }


def build_candidates(run_path, qrels: Qrels, out_dir, depth: int, queries=None) -> dict:
    """Read a training run once, streaming, into a candidates store at ``out_dir`` (written atomically).

    The run must list each query's lines together (as every TREC run writer does); a query that reappears after
    another is an error naming the line. Each pool is the query's top-``depth`` by the rank column (ties in rank by
    descending score, then docid), the released code's cut. ``queries``: keep only these query ids (None: all).
    Returns the counts written to meta.json.
    """
    builder = _Builder()
    counts = {"lines": 0, "queries": 0, "skipped_queries": 0, "pool_entries": 0}
    done: set[str] = set()
    current, entries, seen = None, [], set()

    def flush():
        if current is None:
            return
        done.add(current)
        if queries is not None and current not in queries:
            counts["skipped_queries"] += 1
            return
        ranking = [d for _, _, d in sorted(entries)[:depth]]
        builder.add(current, ranking, qrels.get(current, {}))
        counts["queries"] += 1
        counts["pool_entries"] += len(ranking)

    for lineno, qid, docid, rank, score in run_lines(run_path):
        counts["lines"] += 1
        if qid != current:
            flush()
            if qid in done:
                raise InputFormatError(
                    run_path,
                    f"query {qid!r} appears again after other queries: the run must "
                    "list each query's lines together (sort -s -k1,1)",
                    lineno,
                )
            current, entries, seen = qid, [], set()
        if docid in seen:
            raise InputFormatError(run_path, f"document {docid!r} appears twice for query {qid!r}", lineno)
        seen.add(docid)
        entries.append((rank, -score, docid))
    flush()
    if not counts["queries"]:
        raise InputFormatError(run_path, "no queries of the training set in this run")
    meta = {
        "format": FORMAT,
        "source": str(run_path),
        "source_identity": file_identity(run_path),
        "depth": depth,
        **counts,
        "docids": len(builder.vocabulary),
    }
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for name, array in builder.arrays().items():
            np.save(tmp / f"{name}.npy", array)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        Candidates.open(tmp)  # opens, or the job fails before the rename
    log.info(
        "training candidates: %d queries, top %d of %d run lines, %d distinct passages -> %s",
        counts["queries"],
        depth,
        counts["lines"],
        meta["docids"],
        out_dir,
    )
    return meta
