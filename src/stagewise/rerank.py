"""Score the top-k of a first-stage run with a cross-encoder; length-aware batching."""

from __future__ import annotations

import torch

from .io import Run, sorted_ranking


def load_cross_encoder(model_dir, device=None):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1).to(device).eval()
    return model, tokenizer


@torch.inference_mode()
def score_pairs(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int = 64, max_length: int = 256):
    """One logit per (query, passage) pair. Pairs are batched by length so little padding is computed."""
    lengths = [len(q) + len(p) for q, p in pairs]
    order = sorted(range(len(pairs)), key=lambda i: lengths[i])
    scores = [0.0] * len(pairs)
    device = next(model.parameters()).device
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        enc = tokenizer([pairs[i][0] for i in idx], [pairs[i][1] for i in idx], truncation="longest_first",
                        max_length=max_length, padding=True, return_tensors="pt").to(device)
        with autocast:
            logits = model(**enc).logits.squeeze(-1).float().cpu().tolist()
        for i, s in zip(idx, logits):
            scores[i] = s
    return scores


def rerank(model, tokenizer, run: Run, queries: dict[str, str], texts: dict[str, str], depth: int = 100,
           batch_size: int = 64, max_length: int = 256) -> Run:
    """Re-score each query's top-``depth`` documents; documents below the cut are dropped."""
    keys, pairs = [], []
    for qid in sorted(run):
        for docid, _ in sorted_ranking(run[qid])[:depth]:
            keys.append((qid, docid))
            pairs.append((queries[qid], texts[docid]))
    scores = score_pairs(model, tokenizer, pairs, batch_size, max_length)
    out: Run = {}
    for (qid, docid), s in zip(keys, scores):
        out.setdefault(qid, {})[docid] = s
    return out


def rerank_files(model_dir, run_paths, dataset_specs, corpus: str, out_paths, depth: int = 100,
                 batch_size: int = 64, max_length: int = 256, threads: int = 1, tag: str = "stagewise"):
    """Re-rank each first-stage run (one per dataset spec) and write TREC runs to ``out_paths``."""
    from .data import datasets
    from .io import read_run, write_run

    torch.set_num_threads(max(1, threads))
    model, tokenizer = load_cross_encoder(model_dir)
    runs = [read_run(p) for p in run_paths]
    needed = {d for run in runs for q in run for d, _ in sorted_ranking(run[q])[:depth]}
    texts = datasets.doc_texts(corpus, needed)
    for run, spec, out in zip(runs, dataset_specs, out_paths):
        queries = datasets.queries(spec)
        scored = rerank(model, tokenizer, run, queries, texts, depth, batch_size, max_length)
        write_run(scored, out, tag=tag)
