"""Prepare once, then run offline: the inputs a cluster node cannot fetch are made on the submitting host.

* ``prepare_dataset``: an ir_datasets id's files are downloaded and its docstore built (the corpus: 14 GB for
  MS MARCO) into ir_datasets' home under ``resources/`` (on the shared file system), then a marker records it.
  ir_datasets checks ``built()`` before taking its lock, so jobs that each found the corpus missing would all
  start the same download; here one local rule does it. Jobs run with ``STAGEWISE_PREPARED_DATASETS`` set and
  stop at once, naming the rule, when a dataset they read has no marker.
* ``download_checkpoint``: a hub checkpoint (a reranker's backbone, a ColBERT model) into ``resources/hub/``; the
  jobs that use it read the folder with the hub offline.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..io import atomic_path

log = logging.getLogger(__name__)

#: the environment variable naming the folder of markers; when set, an unprepared ir_datasets id is an error
PREPARED_ENV = "STAGEWISE_PREPARED_DATASETS"


def marker_path(root, spec: str) -> Path:
    return Path(root) / f"{spec}.json"


def is_hub_id(name: str) -> bool:
    """A hub checkpoint id (``org/name``), as opposed to a local folder or the MiniLM package's name."""
    from ..backbones import MINILM_PACKAGE
    from ..config import looks_like_path

    return name not in MINILM_PACKAGE and not looks_like_path(name) and not Path(name).exists()


def prepare_dataset(spec: str, marker) -> dict:
    """Download an ir_datasets dataset and build its docstore; write ``marker`` (counts) when complete."""
    import ir_datasets

    dataset = ir_datasets.load(spec)
    counts = {"dataset": spec}
    if dataset.has_docs():
        store = dataset.docs_store()
        if hasattr(store, "build"):
            store.build()
        counts["docs"] = dataset.docs_count()
    if dataset.has_queries():
        counts["queries"] = sum(1 for _ in dataset.queries_iter())
    if dataset.has_qrels():
        counts["qrels"] = sum(1 for _ in dataset.qrels_iter())
    with atomic_path(marker) as tmp:
        tmp.write_text(json.dumps(counts, indent=1) + "\n")
    log.info("prepared %s: %s", spec, counts)
    return counts


def download_checkpoint(repo_id: str, out_dir) -> Path:
    """A hub checkpoint's files into ``out_dir`` (written atomically), with the hub online for this call only."""
    os.environ.pop("HF_HUB_OFFLINE", None)
    os.environ.pop("TRANSFORMERS_OFFLINE", None)
    from huggingface_hub import snapshot_download

    with atomic_path(out_dir) as tmp:
        snapshot_download(repo_id, local_dir=str(tmp))
    log.info("downloaded %s to %s", repo_id, out_dir)
    return Path(out_dir)
