"""Score the top-k of a first-stage run with a cross-encoder, in length-aware batches (stagewise.batching)."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING, NamedTuple

import torch

from .batching import token_length_batches
from .io import Run, sorted_ranking
from .logs import Progress

if TYPE_CHECKING:
    from .data.texts import Corpus

log = logging.getLogger(__name__)

#: how the classification head is computed when the body runs in bf16: "fp32" on hidden states upcast to fp32 (scores
#: keep fp32's resolution), "bf16" under autocast like the body (the released code's scoring: at logits near 8 the
#: bf16 step is 0.0625, so candidates of one query tie and the docid tie-break orders them)
HEAD_PRECISIONS = ("fp32", "bf16")


class _Fp32Head(torch.nn.Module):
    """A classification head run outside autocast, on its inputs upcast to fp32."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, *args, **kwargs):
        with torch.autocast(args[0].device.type, enabled=False):
            return self.head(*(a.float() if torch.is_tensor(a) else a for a in args), **kwargs)


@contextlib.contextmanager
def _head_in_fp32(model):
    """Run ``model.classifier`` (the head of ELECTRA, RoBERTa, BERT and most Hugging Face sequence classifiers;
    ELECTRA's and RoBERTa's hold the dense layer too, BERT's only the last linear layer) in fp32 meanwhile."""
    head = getattr(model, "classifier", None)
    if not isinstance(head, torch.nn.Module):
        raise ValueError(
            f"{type(model).__name__} has no 'classifier' module to compute in fp32; score it with "
            "rerank.head_precision: bf16"
        )
    model.classifier = _Fp32Head(head)
    try:
        yield
    finally:
        model.classifier = head


def load_cross_encoder(model_dir, device=None):
    from .imports import skip_generation_extras

    skip_generation_extras()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1).to(device).eval()
    return model, tokenizer


@torch.inference_mode()
def score_pairs(
    model, tokenizer, pairs: list[tuple[str, str]], settings, progress: Progress | None = None, bf16: bool | None = None
):
    """One logit per (query, passage) pair, in input order; batches of ``settings.batch_size`` pairs of equal token
    length (see ``token_length_batches``), so almost no padding is computed, cut at ``settings.max_length`` tokens
    (``settings``: a ``stagewise.settings.RerankSettings``). ``bf16``: the body under bf16 autocast (None: on a GPU);
    the classification head in ``settings.head_precision`` then (see HEAD_PRECISIONS). ``progress`` is told the
    pairs scored."""
    head = settings.head_precision
    if head not in HEAD_PRECISIONS:
        raise ValueError(f"head precision {head!r} is not one of {HEAD_PRECISIONS}")
    scores = [0.0] * len(pairs)
    done = 0
    device = next(model.parameters()).device
    bf16 = device.type == "cuda" if bf16 is None else bf16
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    if getattr(tokenizer, "padding_side", "right") != "right":
        raise ValueError(f"cross-encoder tokenizers pad on the right, this one pads on the {tokenizer.padding_side}")
    with _head_in_fp32(model) if bf16 and head == "fp32" else contextlib.nullcontext():
        for idx, batch in token_length_batches(tokenizer, pairs, settings.batch_size, settings.max_length):
            with autocast:
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits.squeeze(-1).float().cpu()
            for i, s in zip(idx, logits.tolist()):
                scores[i] = s
            done += len(idx)
            if progress is not None:
                progress.update(done)
    return scores


def rerank(model, tokenizer, run: Run, queries: dict[str, str], texts: dict[str, str], settings) -> Run:
    """Re-score each query's top-``settings.depth`` documents; documents below the cut are dropped (see
    ``score_pairs``)."""
    keys, pairs = [], []
    for qid in sorted(run):
        for docid, _ in sorted_ranking(run[qid])[: settings.depth]:
            keys.append((qid, docid))
            pairs.append((queries[qid], texts[docid]))
    scores = score_pairs(model, tokenizer, pairs, settings, Progress(log, "re-ranking", len(pairs), "pairs"))
    out: Run = {}
    for (qid, docid), s in zip(keys, scores):
        out.setdefault(qid, {})[docid] = s
    return out


@contextlib.contextmanager
def parallel_tokenization(threads: int):
    """Meanwhile the fast tokenizer encodes with ``threads`` threads (its Rust pool; RAYON_NUM_THREADS sizes the pool
    where nothing in the process started it before). Jobs run with TOKENIZERS_PARALLELISM=false, which keeps the
    tokenizer off threads that a fork (DataLoader workers) would lose; re-ranking forks nothing, and a single thread
    kept the GPU waiting: 869 pairs/s of 230 tokens on the H200 host against a model several times faster
    (benchmarks/results/RESULTS.md, GPU). The setting is restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("TOKENIZERS_PARALLELISM", "RAYON_NUM_THREADS")}
    if threads > 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "true"
        os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class RerankJob(NamedTuple):
    """One first-stage run to re-rank: its file, its queries (a dataset spec) and the re-ranked run's file."""

    run: str
    queries: str
    out: str
    ranker: str | None = None  #: the first-stage ranker whose run it is (the re-ranked run's provenance names it)


def rerank_files(model_dir, jobs: list[RerankJob], corpus: Corpus, settings, threads: int = 1, tag: str = "stagewise"):
    """Re-rank each job's first-stage run with the model folder ``model_dir`` and write TREC runs (``settings``: a
    ``stagewise.settings.RerankSettings``; texts from ``corpus``, see ``stagewise.data.texts.Corpus``), each with
    its provenance record as header: the model and its fingerprint, the run it re-ranks, the settings, the device."""
    from . import provenance
    from .data import datasets
    from .io import read_run, write_run

    torch.set_num_threads(max(1, threads))
    model, tokenizer = load_cross_encoder(model_dir)
    runs = [read_run(job.run) for job in jobs]
    needed = {d for run in runs for q in run for d, _ in sorted_ranking(run[q])[: settings.depth]}
    texts = corpus.doc_texts(needed)
    method = {
        "model": str(model_dir),
        "model_fingerprint": provenance.model_fingerprint(model_dir),
        "device": str(next(model.parameters()).device),
        "rerank": settings.as_dict(),
    }
    for run, job in zip(runs, jobs):
        queries = datasets.queries(job.queries)
        with parallel_tokenization(threads):
            scored = rerank(model, tokenizer, run, queries, texts, settings)
        ranker = {"ranker": job.ranker} if job.ranker else {}
        header = provenance.record(tag=tag, reranks=job.run, queries=job.queries, **ranker, **method)
        write_run(scored, job.out, tag=tag, header=header)
