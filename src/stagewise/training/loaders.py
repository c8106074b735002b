"""The DataLoaders of a training stage: micro-batches drawn by step (see StepBatchSampler), tokenized by a
GroupCollator, optionally in worker processes with text stores of their own."""

from __future__ import annotations

import logging
import os

import torch
from torch.utils.data import DataLoader

from .sampling import GroupCollator

log = logging.getLogger(__name__)

#: pairs per forward pass on the CPU when a stage does not set chunk_size (measured fastest here); a GPU scores a
#: micro-batch in one pass
CPU_CHUNK = 16


def collator(tokenizer, settings, gpu: bool) -> GroupCollator:
    """Tokenizes a stage's micro-batches: ``settings.max_length`` tokens, ``settings.chunk_size`` pairs per forward
    pass (unset: CPU_CHUNK on the CPU, the whole micro-batch on a GPU)."""
    return GroupCollator(tokenizer, settings.max_length, settings.chunk_size or (None if gpu else CPU_CHUNK))


def data_workers(setting, gpu: bool, threads: int) -> int:
    """The DataLoader's worker processes for a stage's ``data_workers`` setting (see the config schema)."""
    if setting != "auto":
        return int(setting)
    return min(8, max(0, threads - 1)) if gpu else 0


def training_loader(dataset, sampler, collate, seed: int, workers: int) -> DataLoader:
    """Micro-batches of ``dataset`` in the order ``sampler`` draws them, ``workers`` processes ahead of the model."""
    gpu = torch.cuda.is_available()
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
        pin_memory=gpu and workers > 0,
        worker_init_fn=reopen_texts if workers else None,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers else None,
    )
    if workers:
        log.info("%d data workers draw and tokenize micro-batches ahead of the model", workers)
    return loader


def validation_loader(dataset, indices: list[int], collate, size: int, seed: int) -> DataLoader | None:
    """The held-out groups ``indices`` in batches of ``size`` (epoch 0's draw), or None without any."""
    if not indices:
        return None
    batches = [[(0, i) for i in indices[j : j + size]] for j in range(0, len(indices), size)]
    return DataLoader(
        dataset, batch_sampler=batches, collate_fn=collate, num_workers=0, generator=torch.Generator().manual_seed(seed)
    )


def reopen_texts(worker_id):
    """In each data worker: a text store of its own (ir_datasets' docstore reads with seek + read, and forked
    workers would share the parent's file positions); the tokenizer's own thread pool off (the workers are the
    parallelism)."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    dataset = torch.utils.data.get_worker_info().dataset
    dataset.texts = dataset.texts.reopen()
