"""Training groups: (query, passages, labels) per query, sampled reproducibly from a seed."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..batching import token_length_batches
from ..data.texts import as_texts
from .losses import teacher_ranking_to_labels


@dataclass
class Group:
    """A query's passages and the loss's labels; for evaluating held-out groups, the query id, the passages' docids
    and their grades in the training qrels (unjudged = 0): relevance is the qrels', never the teacher's labels."""

    query: str
    passages: list[str]
    labels: list[float]
    qid: str = ""
    docids: list[str] | None = None
    grades: list[int] | None = None


def sample_hard_negatives(ranking: list[str], judged: dict[str, int], n: int, depth: int, rng) -> list[str]:
    """``n`` passages drawn without replacement from the top-``depth`` of a first-stage ranking,
    skipping passages judged relevant (unjudged ones count as negative); with replacement if too few."""
    pool = [d for d in ranking[:depth] if judged.get(d, 0) <= 0]
    if not pool:
        return []
    return [pool[i] for i in rng.choice(len(pool), size=n, replace=len(pool) < n)]


POSITIVE_POLICIES = ("add", "drop", "keep")


class ContrastiveGroups(Dataset):
    """One positive + ``settings.negatives`` negatives per training query (``settings``: a C stage's
    ``ContrastiveSettings``).

    ``pools``: a ``Candidates`` store (each query's pool and judgments; ``Candidates.from_run`` builds one from
    in-memory rankings and qrels). The positive is drawn among the query's qrels positives (grade >=
    ``min_positive_grade``) found in the pool's top-``negatives_depth``, as in the paper. For a query with none there,
    ``positive_policy`` decides: 'add' draws among all its qrels positives, 'drop' skips the query, 'keep' (the
    released code) makes an arbitrary retrieved passage the target. Negatives: hard ones from the top-``depth``
    (passages judged relevant are skipped, unjudged count as negative) and ``random_negatives`` of them from the whole
    corpus. ``texts``: a ``stagewise.data.texts`` store (a dict is held as one). ``policy_counts`` says how many
    queries each case touched.
    """

    def __init__(self, queries, pools, texts, settings, seed: int):
        positive_policy, random_negatives = settings.positive_policy, settings.random_negatives
        if positive_policy not in POSITIVE_POLICIES:
            raise ValueError(f"positive_policy must be one of {POSITIVE_POLICIES}, not {positive_policy!r}")
        texts = as_texts(texts)
        if random_negatives and not hasattr(texts, "docids"):
            raise ValueError(
                f"random negatives are drawn from a store that lists its docids (an offset index or "
                f"texts in memory), not from a {type(texts).__name__}"
            )
        run, depth, min_positive_grade = pools, settings.negatives_depth, settings.min_positive_grade
        self.candidates, self.queries = pools, queries
        self.texts, self.n_negatives, self.depth, self.seed = texts, settings.negatives, depth, seed
        self.random_negatives, self.positive_policy = random_negatives, positive_policy
        # every docid (a store's sorted id array as it is: no list of the corpus)
        self.all_docids = texts.docids if random_negatives else []
        self.items = []
        self.policy_counts = {"retrieved": 0, "added": 0, "dropped": 0, "kept": 0, "no_positive": 0}
        qids = run.qids.tolist()
        for i in sorted(range(len(qids)), key=qids.__getitem__):  # by query id, whatever the run's order
            qid = qids[i]
            if qid not in queries:
                continue
            judged = run.judged(i)
            positives = sorted(d for d, g in judged.items() if g >= min_positive_grade and d in texts)
            if not positives:
                self.policy_counts["no_positive"] += 1
                continue
            top = run.pool(i)[:depth]
            retrieved = [d for d in positives if d in set(top)]
            if retrieved:
                self.policy_counts["retrieved"] += 1
                candidates, arbitrary = retrieved, False
            elif positive_policy == "add":
                self.policy_counts["added"] += 1
                candidates, arbitrary = positives, False
            elif positive_policy == "drop":
                self.policy_counts["dropped"] += 1
                continue
            else:
                self.policy_counts["kept"] += 1
                candidates, arbitrary = [], True
            if not any(judged.get(d, 0) <= 0 for d in top):
                continue  # nothing to contrast with
            self.items.append((i, candidates, arbitrary))

    def __len__(self):
        return len(self.items)

    @property
    def query_ids(self) -> list[str]:
        """The query of each training group."""
        return [str(self.candidates.qids[i]) for i, _, _ in self.items]

    @property
    def file_query_ids(self) -> list[str]:
        """Every query of the training run, in the run's order (the candidates keep it)."""
        return self.candidates.qids.tolist()

    def __getitem__(self, key):
        epoch, idx = key if isinstance(key, tuple) else (0, key)
        i, positives, arbitrary = self.items[idx]
        ranking, judged = self.candidates.pool(i), self.candidates.judged(i)
        query = self.queries[self.candidates.qids[i]]
        rng = np.random.default_rng([self.seed, epoch, idx])
        n_hard = self.n_negatives - self.random_negatives
        if arbitrary:
            # the released behaviour: the first sampled passage is the target, whatever its relevance
            sampled = sample_hard_negatives(ranking, judged, n_hard + 1, self.depth, rng)
            positive, negatives = sampled[0], sampled[1:]
        else:
            positive = positives[rng.integers(len(positives))]
            negatives = sample_hard_negatives(ranking, judged, n_hard, self.depth, rng)
        while len(negatives) < self.n_negatives:
            # random corpus passages, unjudged for this query: easy negatives
            docid = self.all_docids[rng.integers(len(self.all_docids))]
            if judged.get(docid, 0) <= 0:
                negatives.append(docid)
        docids = [positive, *negatives]
        passages = [self.texts[d] for d in docids]
        qid = str(self.candidates.qids[i])
        return Group(query, passages, [1.0] + [0.0] * len(negatives), qid, docids, [judged.get(d, 0) for d in docids])


class DistillationGroups(Dataset):
    """The teacher's ranking of each query, labels = max_rank - rank + 1 (max_rank = ``ranking_size`` or the
    ranking's length); optionally a random subset of ``group_size`` passages (labels keep the teacher's order)."""

    def __init__(self, queries, rankings, texts, group_size, seed, ranking_size=None):
        self.texts, self.group_size, self.seed, self.ranking_size = as_texts(texts), group_size, seed, ranking_size
        self.query_ids = [qid for qid in sorted(rankings) if qid in queries]  # the query of each training group
        self.items = [(queries[qid], rankings[qid]) for qid in self.query_ids]
        self.without_query = len(rankings) - len(self.items)
        #: every query with a ranking, in the rankings' order (a teacher file's: the candidates lines kept)
        self.file_query_ids = list(rankings)
        #: the training qrels (qid -> docid -> grade): the relevance held-out groups are evaluated by
        self.qrels = {}

    def judged_by(self, qrels: dict):
        """These groups with the training queries' qrels (see ``Group``); the groups themselves do not change."""
        self.qrels = qrels
        return self

    def _group(self, idx: int, docids: list[str], labels: list[float]) -> Group:
        query, qid = self.items[idx][0], self.query_ids[idx]
        judged = self.qrels.get(qid, {})
        return Group(query, [self.texts[d] for d in docids], labels, qid, docids, [judged.get(d, 0) for d in docids])

    def __len__(self):
        return len(self.items)

    def _subset(self, docids: list[str], size: int, rng_key) -> list[str]:
        """``size`` of ``docids`` drawn at random (seeded by ``rng_key``) in their order; all of them if no more."""
        if not size or len(docids) <= size:
            return docids
        rng = np.random.default_rng(rng_key)
        return [docids[i] for i in sorted(rng.choice(len(docids), size, replace=False))]

    def __getitem__(self, key):
        epoch, idx = key if isinstance(key, tuple) else (0, key)
        ranking = self.items[idx][1]
        labels = teacher_ranking_to_labels(ranking, self.ranking_size)
        docids = self._subset(ranking, self.group_size, [self.seed, epoch, idx])
        return self._group(idx, docids, [float(labels[d]) for d in docids])


class ScoredDistillationGroups(DistillationGroups):
    """Groups of a teacher that gives scores (a ``stagewise.data.teacher.Teacher`` with ``scores``): labels = the
    teacher's scores. From a run: a random subset of ``group_size`` of the query's top passages, in the teacher's
    order (as ``DistillationGroups``). From triples (the teacher names ``positives``): one of the query's positives,
    drawn per epoch, first, then up to ``group_size - 1`` of its other passages drawn at random, in descending
    score."""

    def __init__(self, queries, teacher, texts, group_size, seed):
        super().__init__(queries, teacher.rankings, texts, group_size, seed)
        self.scores, self.positives = teacher.scores, teacher.positives

    def __getitem__(self, key):
        epoch, idx = key if isinstance(key, tuple) else (0, key)
        ranking, qid = self.items[idx][1], self.query_ids[idx]
        positives = self.positives.get(qid)
        if positives:
            positive = positives[np.random.default_rng([self.seed, epoch, idx, 1]).integers(len(positives))]
            negatives = [d for d in ranking if d not in positives]
            docids = [positive, *self._subset(negatives, self.group_size - 1, [self.seed, epoch, idx])]
        else:
            docids = self._subset(ranking, self.group_size, [self.seed, epoch, idx])
        scores = self.scores[qid]
        return self._group(idx, docids, [scores[d] for d in docids])


class StepBatchSampler(Sampler):
    """Micro-batches as a pure function of (seed, micro-batch number): epoch e is a seeded permutation of
    ``indices``; yields lists of (epoch, index) keys forever, starting at micro-batch ``start``. A resumed run
    that starts at the number of batches already trained on sees exactly the batches the uninterrupted run saw."""

    def __init__(self, indices, batch_size: int, seed: int, start: int = 0):
        self.indices, self.batch_size, self.seed, self.start = list(indices), batch_size, seed, start
        self.per_epoch = math.ceil(len(self.indices) / batch_size)

    def batch(self, number: int) -> list[tuple[int, int]]:
        epoch, position = divmod(number, self.per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.indices))
        chosen = order[position * self.batch_size : (position + 1) * self.batch_size]
        return [(epoch, self.indices[i]) for i in chosen]

    def __iter__(self):
        number = self.start
        while True:
            yield self.batch(number)
            number += 1


#: how a stage's validation queries are drawn (training.<stage>.validation_split)
VALIDATION_SPLITS = ("permutation", "train_test_split")


def split_validation(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(training, validation) indices: ceil(fraction * n) queries held out, drawn by the seed."""
    if fraction <= 0:
        return list(range(n)), []
    held = set(np.random.default_rng([seed, 1_000_003]).permutation(n)[: max(1, math.ceil(fraction * n))].tolist())
    return [i for i in range(n) if i not in held], sorted(held)


def train_test_split_ids(ids: list, test_size: float, random_state: int) -> tuple[list, list]:
    """scikit-learn's ``train_test_split(ids, test_size=test_size, random_state=random_state)`` (shuffled, not
    stratified), computed as scikit-learn does it, without it: the first ceil(test_size * n) positions of
    ``numpy.random.RandomState(random_state).permutation(n)`` are held out. (training ids, held-out ids), each in the
    permutation's order. Which ids are held out depends on the order of ``ids``, not on their values."""
    n_test = math.ceil(test_size * len(ids))
    permutation = np.random.RandomState(random_state).permutation(len(ids))
    return [ids[i] for i in permutation[n_test:]], [ids[i] for i in permutation[:n_test]]


def split_validation_by_query(
    query_ids: list[str], file_query_ids, fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """(training, validation) indices of training groups whose queries are ``query_ids``: the released code's split,
    which holds out the queries ``train_test_split_ids`` draws from every query id of the training file in the file's
    order (``file_query_ids``; the release: the ColBERTv2 training run for C, the RankGPT permutations it kept for D),
    before any query is left out for lack of a positive or a text."""
    if fraction <= 0:
        return list(range(len(query_ids))), []
    held = set(train_test_split_ids(list(file_query_ids), fraction, seed)[1])
    return ([i for i, q in enumerate(query_ids) if q not in held], [i for i, q in enumerate(query_ids) if q in held])


class GroupCollator:
    """Tokenize the (query, passage) pairs of a batch of groups, pad groups to one size with a mask.

    The pairs are ordered by token count and cut into chunks of ``chunk_size`` pairs, each padded to its own
    longest pair (``chunks``: (positions in the flattened batch, encoded chunk)); the module scores the chunks one
    by one and puts the scores back in place. One forward over the whole batch would pad every pair to the
    batch's longest: on MS MARCO passages at 256 tokens that computes about twice the real tokens. Padding
    entries of ragged groups are not scored (their mask is False). ``judgments``: the batch also carries each group's
    (query id, docids, grades) (the held-out groups' evaluation reads them)."""

    def __init__(self, tokenizer, max_length, chunk_size: int | None = 16, judgments: bool = False):
        # None: the whole micro-batch in one forward pass (a GPU's choice)
        self.tokenizer, self.max_length, self.chunk_size = tokenizer, max_length, chunk_size
        self.judgments = judgments

    def with_judgments(self) -> GroupCollator:
        """The same collator, its batches carrying the groups' judgments."""
        return GroupCollator(self.tokenizer, self.max_length, self.chunk_size, judgments=True)

    def __call__(self, groups: list[Group]):
        size = max(len(g.passages) for g in groups)
        pairs, positions, labels, mask = [], [], [], []
        for row, g in enumerate(groups):
            pad = size - len(g.passages)
            pairs += [(g.query, p) for p in g.passages]
            positions += [row * size + j for j in range(len(g.passages))]
            labels.append(g.labels + [0.0] * pad)
            mask.append([True] * len(g.passages) + [False] * pad)
        chunks = [
            ([positions[i] for i in idx], encoded)
            for idx, encoded in token_length_batches(
                self.tokenizer, pairs, self.chunk_size or len(pairs), self.max_length, chunk_size=max(1, len(pairs))
            )
        ]
        batch = {"chunks": chunks, "labels": torch.tensor(labels), "mask": torch.tensor(mask), "group_size": size}
        if self.judgments:
            batch["judgments"] = [(g.qid, g.docids, g.grades) for g in groups]
        return batch
