"""Training groups: (query, passages, labels) per query, sampled reproducibly from a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ..io import sorted_ranking
from .losses import teacher_ranking_to_labels


@dataclass
class Group:
    query: str
    passages: list[str]
    labels: list[float]


def sample_hard_negatives(ranking: list[str], judged: dict[str, int], n: int, depth: int, rng) -> list[str]:
    """``n`` passages drawn without replacement from the top-``depth`` of a first-stage ranking,
    skipping passages judged relevant (unjudged ones count as negative); with replacement if too few."""
    pool = [d for d in ranking[:depth] if judged.get(d, 0) <= 0]
    if not pool:
        return []
    return [pool[i] for i in rng.choice(len(pool), size=n, replace=len(pool) < n)]


class ContrastiveGroups(Dataset):
    """One positive (random among qrels with grade >= ``min_positive_grade``) + ``n_negatives`` negatives:
    hard ones from the first-stage top-``depth`` and ``random_negatives`` of them drawn from the whole corpus."""

    def __init__(self, queries, qrels, run, texts, n_negatives, depth, min_positive_grade, seed, random_negatives=0):
        self.texts, self.n_negatives, self.depth, self.seed = texts, n_negatives, depth, seed
        self.random_negatives = random_negatives
        self.all_docids = sorted(texts) if random_negatives else []
        self.items = []
        for qid in sorted(run):
            positives = sorted(d for d, g in qrels.get(qid, {}).items() if g >= min_positive_grade and d in texts)
            ranking = [d for d, _ in sorted_ranking(run[qid])]
            if positives and qid in queries and any(qrels[qid].get(d, 0) <= 0 for d in ranking[:depth]):
                self.items.append((queries[qid], positives, ranking, qrels[qid]))
        self.epoch = 0

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        query, positives, ranking, judged = self.items[idx]
        rng = np.random.default_rng([self.seed, self.epoch, idx])
        positive = positives[rng.integers(len(positives))]
        negatives = sample_hard_negatives(ranking, judged, self.n_negatives - self.random_negatives, self.depth, rng)
        while len(negatives) < self.n_negatives:
            # random corpus passages, unjudged for this query: easy negatives
            docid = self.all_docids[rng.integers(len(self.all_docids))]
            if judged.get(docid, 0) <= 0:
                negatives.append(docid)
        passages = [self.texts[d] for d in [positive, *negatives]]
        return Group(query, passages, [1.0] + [0.0] * len(negatives))


class DistillationGroups(Dataset):
    """The teacher's ranking of each query, labels = max_rank - rank + 1; optionally a random
    subset of ``group_size`` passages (the labels keep the teacher's order)."""

    def __init__(self, queries, rankings, texts, group_size, seed):
        self.texts, self.group_size, self.seed = texts, group_size, seed
        self.items = [(queries[qid], rankings[qid]) for qid in sorted(rankings) if qid in queries]
        self.epoch = 0

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        query, ranking = self.items[idx]
        labels = teacher_ranking_to_labels(ranking)
        docids = ranking
        if self.group_size and len(ranking) > self.group_size:
            rng = np.random.default_rng([self.seed, self.epoch, idx])
            docids = [ranking[i] for i in sorted(rng.choice(len(ranking), self.group_size, replace=False))]
        return Group(query, [self.texts[d] for d in docids], [float(labels[d]) for d in docids])


class GroupCollator:
    """Tokenize (query, passage) pairs of a batch of groups; pad groups to one size with a mask."""

    def __init__(self, tokenizer, max_length):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, groups: list[Group]):
        size = max(len(g.passages) for g in groups)
        queries, passages, labels, mask = [], [], [], []
        for g in groups:
            pad = size - len(g.passages)
            queries += [g.query] * size
            passages += g.passages + [""] * pad
            labels.append(g.labels + [0.0] * pad)
            mask.append([True] * len(g.passages) + [False] * pad)
        encoded = self.tokenizer(queries, passages, truncation="longest_first", max_length=self.max_length,
                                 padding=True, return_tensors="pt")
        return {"encoded": dict(encoded), "labels": torch.tensor(labels), "mask": torch.tensor(mask),
                "group_size": size}
