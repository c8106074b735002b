"""The offset index of a local corpus: passage texts by id, read when a training group or a re-ranking batch needs
them, never a dict of the corpus (one of the stores of stagewise.data.texts).

A local ``docs.tsv`` gets an offset index, built once by the ``doc_store`` rule: its docids sorted (a numpy array),
the byte offset and length of each one's line. A lookup is a binary search and one ``pread`` of the file: at MS MARCO
size (8.8M passages, 3 GB) the index is about 350 MB and opens in milliseconds. The file is read, not memory-mapped:
mapped pages of a 3 GB file would count in the job's RSS (and in a cluster's memory accounting). An ir_datasets
corpus uses ir_datasets' own docstore (``texts.IrDatasetsDocStore``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import InputFormatError
from ..io import atomic_path, check_identity, file_identity

log = logging.getLogger(__name__)

#: the layout of an offset index; an index of another layout (an older stagewise) is rebuilt, not misread
FORMAT = 2


class OffsetDocStore:
    """docid -> text of a ``docid<TAB>text`` file through its offset index (see ``build_offset_index``)."""

    def __init__(self, index_dir, located_at=None):
        """``located_at``: where the store will be (its ``docs`` path is relative to that), when it is opened from
        the temporary folder it is written to."""
        index_dir = Path(index_dir)
        meta_path = index_dir / "meta.json"
        if not meta_path.exists():
            raise InputFormatError(index_dir, "not a document store (no meta.json); the doc_store rule builds it")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != FORMAT:
            raise InputFormatError(
                index_dir,
                f"a document store of layout {self.meta.get('format', 1)}, this stagewise "
                f"reads layout {FORMAT}: delete the folder, the doc_store rule rebuilds it",
            )
        # relative to the store (an older store's absolute path stays absolute)
        self.path = Path(os.path.normpath(Path(located_at or index_dir).absolute() / self.meta["docs"]))
        stat = self.path.stat()
        if (stat.st_size, stat.st_mtime_ns) != (self.meta["size"], self.meta["mtime_ns"]):
            raise InputFormatError(self.path, f"changed since its document store {index_dir} was built; rebuild it")
        if "sample_sha256" in self.meta:  # a same-size replacement given the original date (cp -p, rsync -a)
            check_identity(self.path, self.meta, index_dir)
        # plain arrays over the mapped files (np.asarray: no copy): indexing a np.memmap costs ~15 us in Python
        self.docids, self.offsets, self.lengths = (
            np.asarray(np.load(index_dir / name, mmap_mode="r"))
            for name in ("docids.npy", "offsets.npy", "lengths.npy")
        )
        self._file, self._pid = None, None

    def _handle(self):
        """This process's handle on the file, opened on first use: a forked data worker, an unpickled copy (a
        spawned worker) and the parent each read through their own (a raw descriptor number copied with the
        object would be closed by one copy under the others, or name nothing in a spawned process)."""
        if self._pid != os.getpid():
            self._file, self._pid = open(self.path, "rb", buffering=0), os.getpid()
        return self._file.fileno()

    def __getstate__(self):
        return {**self.__dict__, "_file": None, "_pid": None}

    def __len__(self):
        return len(self.docids)

    def _position(self, docid: str) -> int:
        i = int(np.searchsorted(self.docids, docid))
        return i if i < len(self.docids) and self.docids[i] == docid else -1

    def __contains__(self, docid) -> bool:
        return self._position(str(docid)) >= 0

    def __getitem__(self, docid: str) -> str:
        i = self._position(docid)
        if i < 0:
            raise KeyError(docid)
        line = os.pread(self._handle(), int(self.lengths[i]), int(self.offsets[i])).decode("utf-8")
        return line.rstrip("\n").partition("\t")[2]

    def get_many(self, docids: Iterable[str]) -> dict[str, str]:
        return {d: self[d] for d in docids if d in self}

    def missing(self, docids: Iterable[str]) -> list[str]:
        """Those of ``docids`` the index lacks, in one vectorized binary search (no sorted copy of both arrays)."""
        ids = np.asarray(sorted(docids) if isinstance(docids, (set, frozenset)) else docids)
        if not len(ids) or not len(self.docids):
            return ids.tolist()
        at = np.minimum(np.searchsorted(self.docids, ids), len(self.docids) - 1)
        return ids[self.docids[at] != ids].tolist()

    def reopen(self) -> OffsetDocStore:
        """Itself: each process opens its own handle on the file at first use (see ``_handle``)."""
        return self


def build_offset_index(docs_path, out_dir) -> dict:
    """The offset index of a ``docid<TAB>text`` file at ``out_dir`` (written atomically): one streaming pass."""
    docs_path = Path(docs_path)
    docids, offsets, lengths = [], [], []
    position = 0
    with open(docs_path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            docid, tab, _ = line.partition(b"\t")
            if not tab:
                raise InputFormatError(docs_path, "expected 'docid<TAB>text'", lineno)
            docids.append(docid.decode("utf-8"))
            offsets.append(position)
            lengths.append(len(line))
            position += len(line)
    order = np.argsort(np.array(docids, dtype=f"<U{max(map(len, docids), default=1)}"), kind="stable")
    sorted_ids = np.array(docids, dtype=f"<U{max(map(len, docids), default=1)}")[order]
    repeated = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(repeated):
        raise InputFormatError(docs_path, f"docid {sorted_ids[repeated[0]]!r} appears more than once")
    # relative to the store: a copied or moved project reads its own docs.tsv, not the original folder's
    docs = os.path.relpath(docs_path.resolve(), Path(out_dir).resolve())
    meta = {"format": FORMAT, "docs": docs, "documents": len(docids), **file_identity(docs_path)}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        np.save(tmp / "docids.npy", sorted_ids)
        np.save(tmp / "offsets.npy", np.array(offsets, dtype=np.int64)[order])
        np.save(tmp / "lengths.npy", np.array(lengths, dtype=np.int32)[order])
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        OffsetDocStore(tmp, located_at=out_dir)  # opens, or the job fails before the rename
    log.info("document store: %d passages of %s -> %s", len(docids), docs_path, out_dir)
    return meta
