"""Passage texts by docid: one protocol, three stores, one factory.

Every reader of passage texts (training groups, re-ranking, the command line) goes through a ``PassageTexts``
store, opened by ``corpus_texts``: the offset index of a local ``docs.tsv`` where the doc_store rule built one
(``docstore.OffsetDocStore``), ir_datasets' docstore for an ir_datasets id (``IrDatasetsDocStore``), or the file
read into memory (``InMemoryTexts``: small data, tests, the command line).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

from ..errors import InputFormatError
from . import datasets
from .docstore import OffsetDocStore


@runtime_checkable
class PassageTexts(Protocol):
    """docid -> passage text. A store that can list its docids cheaply (the offset index, an in-memory store) has
    ``docids`` too, sorted: random negatives are drawn from it."""

    def __getitem__(self, docid: str) -> str: ...

    def __contains__(self, docid: object) -> bool: ...

    def get_many(self, docids: Iterable[str]) -> dict[str, str]:
        """The texts of those of ``docids`` the store holds."""
        ...

    def missing(self, docids: Iterable[str]) -> list[str]:
        """Those of ``docids`` the store lacks (a set in sorted order, other iterables in theirs)."""
        ...

    def reopen(self) -> PassageTexts:
        """The store for a forked or spawned data worker: one with file handles of its own where it holds any."""
        ...


class InMemoryTexts:
    """docid -> text held in a mapping (a small corpus, tests, the command line)."""

    def __init__(self, texts: Mapping[str, str]):
        self.texts = texts

    @classmethod
    def from_tsv(cls, path, docids: Iterable[str] | None = None) -> InMemoryTexts:
        """The ``docid<TAB>text`` lines of ``path`` (only those of ``docids`` when given), streamed."""
        wanted = None if docids is None else set(docids)
        found = {}
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                docid, sep, text = line.rstrip("\n").partition("\t")
                if not sep:
                    raise InputFormatError(path, "expected 'docid<TAB>text'", lineno)
                if wanted is None or docid in wanted:
                    found[docid] = text
        return cls(found)

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, docid: str) -> str:
        return self.texts[docid]

    def __contains__(self, docid) -> bool:
        return docid in self.texts

    @cached_property
    def docids(self) -> list[str]:
        return sorted(self.texts)

    def get_many(self, docids: Iterable[str]) -> dict[str, str]:
        return {d: self.texts[d] for d in docids if d in self.texts}

    def missing(self, docids: Iterable[str]) -> list[str]:
        return [d for d in _ordered(docids) if d not in self.texts]

    def reopen(self) -> InMemoryTexts:
        return self


class IrDatasetsDocStore:
    """docid -> text through ir_datasets' docstore of a corpus id."""

    def __init__(self, spec: str):
        self.spec, self.store = spec, datasets.load(spec).docs_store()

    def __contains__(self, docid) -> bool:
        try:
            self.store.get(docid)
            return True
        except KeyError:
            return False

    def __getitem__(self, docid: str) -> str:
        return self.store.get(docid).default_text()

    def get_many(self, docids: Iterable[str]) -> dict[str, str]:
        return {d.doc_id: d.default_text() for d in self.store.get_many_iter(set(docids))}

    def missing(self, docids: Iterable[str]) -> list[str]:
        docids = _ordered(docids)
        found = self.get_many(docids)
        return [d for d in docids if d not in found]

    def reopen(self) -> IrDatasetsDocStore:
        """The same store with file handles of its own (ir_datasets' docstore reads with seek + read)."""
        return IrDatasetsDocStore(self.spec)


def _ordered(docids: Iterable[str]) -> list[str]:
    return sorted(docids) if isinstance(docids, (set, frozenset)) else list(docids)


def corpus_texts(corpus: str, store_dir=None, docids: Iterable[str] | None = None) -> PassageTexts:
    """The texts of a corpus (an ir_datasets id or ``local:<folder>``): through the offset index at ``store_dir``
    (built by the doc_store rule), ir_datasets' docstore of an ir_datasets id, or a local corpus's docs.tsv read into
    memory (only ``docids`` when given)."""
    if store_dir is not None:
        return OffsetDocStore(store_dir)
    if datasets.is_local(corpus):
        return InMemoryTexts.from_tsv(datasets.local_docs_file(datasets.local_folder(corpus)), docids)
    return IrDatasetsDocStore(corpus)


@dataclass(frozen=True)
class Corpus:
    """A corpus (an ir_datasets id or ``local:<folder>``) with its offset index when the doc_store rule built one:
    the one way to its passages' texts."""

    spec: str
    store: str | None = None

    def texts(self, docids: Iterable[str] | None = None) -> PassageTexts:
        """A store of its texts (see ``corpus_texts``; a local corpus without an index: only ``docids``)."""
        return corpus_texts(self.spec, self.store, docids)

    def doc_texts(self, docids) -> dict[str, str]:
        """The texts of the given documents, every one of which must be in it."""
        return doc_texts(self.spec, docids, self.store)


def as_texts(texts) -> PassageTexts:
    """A store as it is; a plain mapping (tests, small data) as an ``InMemoryTexts``."""
    return texts if isinstance(texts, PassageTexts) else InMemoryTexts(texts)


def doc_texts(corpus: str, docids, store_dir=None) -> dict[str, str]:
    """The texts of the given documents, every one of which must be in the corpus (see ``corpus_texts``)."""
    wanted = set(docids)
    found = corpus_texts(corpus, store_dir, wanted).get_many(wanted)
    missing = wanted - found.keys()
    if missing:
        raise InputFormatError(corpus, f"{len(missing)} documents not in the corpus, e.g. {sorted(missing)[:3]}")
    return found
