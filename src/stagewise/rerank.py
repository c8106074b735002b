"""Score the top-k of a first-stage run with a cross-encoder; length-aware batching."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import torch

from .io import Run, sorted_ranking
from .logs import Progress

log = logging.getLogger(__name__)


def load_cross_encoder(model_dir, device=None):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1).to(device).eval()
    return model, tokenizer


def token_length_batches(tokenizer, pairs: list[tuple[str, str]], batch_size: int, max_length: int,
                         chunk_size: int = 16384):
    """Yield (pair indices, padded batch) with pairs of nearly equal token count in each batch.

    Pairs are tokenized once, ``chunk_size`` at a time (bounded memory on long runs), ordered by their
    token count within a chunk and padded per batch to its longest pair only. Ordering by token count rather
    than by characters matters: on the TREC DL 2019 BM25 top-100 (MiniLM's tokenizer, 256 tokens, 32 pairs a
    batch) character order computes 33% padding, token order 0.8%."""
    pad_id = tokenizer.pad_token_id or 0
    for offset in range(0, len(pairs), chunk_size):
        chunk = pairs[offset:offset + chunk_size]
        encoded = tokenizer([q for q, _ in chunk], [p for _, p in chunk], truncation="longest_first",
                            max_length=max_length)
        ids = encoded["input_ids"]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = int(lengths[idx].max())
            # each row's tokens are a prefix: a row-major boolean mask takes the concatenated rows in order
            filled = np.arange(width) < lengths[idx][:, None]
            batch = {}
            for key in encoded.keys():
                values = np.full((len(idx), width), pad_id if key == "input_ids" else 0, dtype=np.int64)
                rows = encoded[key]
                values[filled] = np.fromiter(itertools.chain.from_iterable(rows[i] for i in idx), dtype=np.int64,
                                             count=int(lengths[idx].sum()))
                batch[key] = torch.from_numpy(values)
            idx = idx.tolist()
            yield [offset + i for i in idx], batch


@torch.inference_mode()
def score_pairs(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int = 64, max_length: int = 256,
                progress: Progress | None = None):
    """One logit per (query, passage) pair, in input order; batches of equal token length (see
    ``token_length_batches``), so almost no padding is computed. ``progress`` is told the pairs scored."""
    scores = [0.0] * len(pairs)
    done = 0
    device = next(model.parameters()).device
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    if getattr(tokenizer, "padding_side", "right") != "right":
        raise ValueError(f"cross-encoder tokenizers pad on the right, this one pads on the {tokenizer.padding_side}")
    for idx, batch in token_length_batches(tokenizer, pairs, batch_size, max_length):
        with autocast:
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits.squeeze(-1).float().cpu().tolist()
        for i, s in zip(idx, logits):
            scores[i] = s
        done += len(idx)
        if progress is not None:
            progress.update(done)
    return scores


def rerank(model, tokenizer, run: Run, queries: dict[str, str], texts: dict[str, str], depth: int = 100,
           batch_size: int = 64, max_length: int = 256) -> Run:
    """Re-score each query's top-``depth`` documents; documents below the cut are dropped."""
    keys, pairs = [], []
    for qid in sorted(run):
        for docid, _ in sorted_ranking(run[qid])[:depth]:
            keys.append((qid, docid))
            pairs.append((queries[qid], texts[docid]))
    scores = score_pairs(model, tokenizer, pairs, batch_size, max_length,
                         Progress(log, "re-ranking", len(pairs), "pairs"))
    out: Run = {}
    for (qid, docid), s in zip(keys, scores):
        out.setdefault(qid, {})[docid] = s
    return out


def rerank_files(model_dir, run_paths, dataset_specs, corpus: str, out_paths, depth: int = 100,
                 batch_size: int = 64, max_length: int = 256, threads: int = 1, tag: str = "stagewise",
                 doc_store=None):
    """Re-rank each first-stage run (one per dataset spec) and write TREC runs to ``out_paths``; texts come from
    ``doc_store`` (a local corpus's offset index) when given."""
    from .data import datasets
    from .io import read_run, write_run

    torch.set_num_threads(max(1, threads))
    model, tokenizer = load_cross_encoder(model_dir)
    runs = [read_run(p) for p in run_paths]
    needed = {d for run in runs for q in run for d, _ in sorted_ranking(run[q])[:depth]}
    texts = datasets.doc_texts(corpus, needed, doc_store)
    for run, spec, out in zip(runs, dataset_specs, out_paths):
        queries = datasets.queries(spec)
        scored = rerank(model, tokenizer, run, queries, texts, depth, batch_size, max_length)
        write_run(scored, out, tag=tag)
