"""Length-aware batching of (query, passage) pairs, shared by re-ranking and training: pairs of nearly equal token
count go together, each batch padded to its own longest pair."""

from __future__ import annotations

import itertools

import numpy as np
import torch


def token_length_batches(
    tokenizer, pairs: list[tuple[str, str]], batch_size: int, max_length: int, chunk_size: int = 16384
):
    """Yield (pair indices, padded batch) with pairs of nearly equal token count in each batch.

    Pairs are tokenized once, ``chunk_size`` at a time (bounded memory on long runs), ordered by their
    token count within a chunk and padded per batch to its longest pair only. Ordering by token count rather
    than by characters matters: on the TREC DL 2019 BM25 top-100 (MiniLM's tokenizer, 256 tokens, 32 pairs a
    batch) character order computes 33% padding, token order 0.8%."""
    pad_id = tokenizer.pad_token_id or 0
    for offset in range(0, len(pairs), chunk_size):
        chunk = pairs[offset : offset + chunk_size]
        encoded = tokenizer(
            [q for q, _ in chunk], [p for _, p in chunk], truncation="longest_first", max_length=max_length
        )
        ids = encoded["input_ids"]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = int(lengths[idx].max())
            # each row's tokens are a prefix: a row-major boolean mask takes the concatenated rows in order
            filled = np.arange(width) < lengths[idx][:, None]
            batch = {}
            for key in encoded.keys():
                values = np.full((len(idx), width), pad_id if key == "input_ids" else 0, dtype=np.int64)
                rows = encoded[key]
                values[filled] = np.fromiter(
                    itertools.chain.from_iterable(rows[i] for i in idx), dtype=np.int64, count=int(lengths[idx].sum())
                )
                batch[key] = torch.from_numpy(values)
            idx = idx.tolist()
            yield [offset + i for i in idx], batch
