"""A deterministic synthetic retrieval collection with topical structure and vocabulary mismatch.

Latent topics each own a set of concepts; every concept has several surface forms (synonyms) and
passages and queries pick forms independently, so exact-match BM25 misses part of the relevance while
a model trained on many queries can learn which forms belong together. Relevance is graded by how many
of the query's concepts an on-topic passage covers. Distractor passages carry another topic's words.
Everything derives from one seed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..io import atomic_path

CONSONANTS = list("bcdfghjklmnprstvz")
VOWELS = list("aeiou")


@dataclass
class SyntheticSpec:
    seed: int = 13
    n_passages: int = 20000
    n_topics: int = 25
    concepts_per_topic: int = 30
    forms_per_concept: int = 4
    form_weights: list[float] = field(default_factory=lambda: [0.4, 0.2, 0.2, 0.2])
    homonym_rate: float = 0.1
    context_words_per_topic: int = 30
    filler_words: int = 300
    concepts_per_passage: list[int] = field(default_factory=lambda: [3, 5])
    context_per_passage: list[int] = field(default_factory=lambda: [3, 6])
    filler_per_passage: list[int] = field(default_factory=lambda: [6, 12])
    distractor_rate: float = 0.15
    spam_rate: float = 0.1
    spam_words: int = 20
    concepts_per_query: list[int] = field(default_factory=lambda: [2, 4])
    splits: dict[str, int] = field(default_factory=lambda: {"train": 1200, "test-a": 60, "test-b": 60})
    judged_negatives_per_query: int = 5


def spec_from_config(section: dict) -> SyntheticSpec:
    """The generator's settings from the config's ``synthetic`` section (teacher keys belong elsewhere)."""
    from dataclasses import fields

    from ..errors import ConfigError

    names = {f.name for f in fields(SyntheticSpec)}
    spec = SyntheticSpec(**{k: v for k, v in section.items() if k in names})
    low, high = spec.filler_per_passage
    if low > high:
        raise ConfigError(f"config key 'synthetic.filler_per_passage': the fewest ({low}) exceeds the most ({high})")
    return spec


def _make_words(rng, n, syllables=(2, 3)):
    """n distinct pronounceable pseudo-words."""
    words, seen = [], set()
    while len(words) < n:
        n_syllables = rng.integers(syllables[0], syllables[1] + 1)
        w = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(n_syllables))
        if rng.random() < 0.5:
            w += rng.choice(CONSONANTS)
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def grade(query_concepts, passage_concepts, same_topic):
    """Relevance 0-3 of an on-topic passage from the fraction of the query's concepts it covers:
    all -> 3, at least two thirds -> 2, at least half -> 1."""
    if not same_topic:
        return 0
    covered = len(set(query_concepts) & set(passage_concepts))
    fraction = covered / len(query_concepts)
    if fraction == 1:
        return 3
    if fraction >= 2 / 3:
        return 2
    return 1 if fraction >= 1 / 2 else 0


def generate(spec: SyntheticSpec):
    """Return (docs, splits) where docs maps docid -> text and splits maps name -> (queries, qrels)."""
    rng = np.random.default_rng(spec.seed)
    T, C, F = spec.n_topics, spec.concepts_per_topic, spec.forms_per_concept
    # a concept's surface forms are one stem with different endings (like "retrieve", "retrieval"):
    # different words to exact-match BM25, a shared piece to a model with a subword tokenizer
    stems = _make_words(rng, T * C + T * spec.context_words_per_topic + spec.filler_words)
    suffixes = [""] + _make_words(rng, F - 1, syllables=(1, 1))
    forms = np.array([[[stems[t * C + c] + suffixes[f] for f in range(F)] for c in range(C)] for t in range(T)])
    # homonyms: a concept whose stem is also a concept of another topic, so a stem match can be off-topic
    for t, c in zip(*np.nonzero(rng.random((T, C)) < spec.homonym_rate)):
        u, d = int((t + rng.integers(1, T)) % T), int(rng.integers(C))
        forms[t, c] = forms[u, d]
    off = T * C
    context = np.array(stems[off : off + T * spec.context_words_per_topic]).reshape(T, -1)
    filler = np.array(stems[off + T * spec.context_words_per_topic :])
    spam_vocab = np.array(_make_words(rng, spec.spam_words + len(stems))[len(stems) :]) if spec.spam_words else None
    filler_p = 1.0 / np.arange(1, len(filler) + 1)
    filler_p /= filler_p.sum()
    form_p = np.array(spec.form_weights[:F], dtype=float)
    form_p /= form_p.sum()

    def surface(t, c):
        return forms[t, c, rng.choice(F, p=form_p)]

    docs, doc_topic, doc_concepts = {}, [], []
    for i in range(spec.n_passages):
        t = int(rng.integers(T))
        docid = f"d{i}"
        if spam_vocab is not None and rng.random() < spec.spam_rate:
            # keyword stuffing: many of a topic's words around spam boilerplate; lexically strong, never relevant
            stuffed = rng.choice(C, size=int(rng.integers(5, 9)), replace=False)
            tokens = [surface(t, c) for c in stuffed] + rng.choice(spam_vocab, size=int(rng.integers(2, 5))).tolist()
            rng.shuffle(tokens)
            docs[docid] = " ".join(tokens)
            doc_topic.append(t)
            doc_concepts.append(frozenset())
            continue
        k = int(rng.integers(spec.concepts_per_passage[0], spec.concepts_per_passage[1] + 1))
        concepts = sorted(rng.choice(C, size=k, replace=False).tolist())
        tokens = [surface(t, c) for c in concepts]
        tokens += [surface(t, c) for c in rng.choice(concepts, size=int(rng.integers(0, 3)))]
        n_ctx = int(rng.integers(spec.context_per_passage[0], spec.context_per_passage[1] + 1))
        tokens += rng.choice(context[t], size=n_ctx).tolist()
        if rng.random() < spec.distractor_rate:
            # words of another topic's concepts: lexical matches for that topic's queries, but off-topic
            u = int((t + rng.integers(1, T)) % T)
            tokens += [surface(u, c) for c in rng.choice(C, size=2, replace=False)]
        n_fill = int(rng.integers(spec.filler_per_passage[0], spec.filler_per_passage[1] + 1))
        tokens += rng.choice(filler, size=n_fill, p=filler_p).tolist()
        rng.shuffle(tokens)
        docs[docid] = " ".join(tokens)
        doc_topic.append(t)
        doc_concepts.append(frozenset(concepts))

    doc_topic = np.array(doc_topic)
    by_topic = [np.flatnonzero(doc_topic == t) for t in range(T)]
    splits, qn = {}, 0
    for name, n_queries in spec.splits.items():
        queries, qrels = {}, {}
        for _ in range(n_queries):
            t = int(rng.integers(T))
            anchor = int(rng.choice(by_topic[t]))
            while not doc_concepts[anchor]:
                anchor = int(rng.choice(by_topic[t]))
            n = int(rng.integers(spec.concepts_per_query[0], spec.concepts_per_query[1] + 1))
            pool = sorted(doc_concepts[anchor])
            concepts = rng.choice(pool, size=min(n, len(pool)), replace=False).tolist()
            tokens = [surface(t, c) for c in concepts]
            rng.shuffle(tokens)
            qid = f"q{qn}"
            qn += 1
            queries[qid] = " ".join(tokens)
            judged, zeros = {}, []
            for d in by_topic[t]:
                g = grade(concepts, doc_concepts[d], True)
                if g > 0:
                    judged[f"d{d}"] = g
                else:
                    zeros.append(int(d))
            for d in rng.choice(zeros, size=min(spec.judged_negatives_per_query, len(zeros)), replace=False):
                judged[f"d{int(d)}"] = 0
            qrels[qid] = judged
        splits[name] = (queries, qrels)
    return docs, splits


def write_dataset(spec: SyntheticSpec, folder):
    """Write the collection as a local dataset folder: docs.tsv, <split>/queries.tsv, <split>/qrels.txt."""
    from ..io import write_qrels, write_tsv

    docs, splits = generate(spec)
    folder = Path(folder)
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        write_tsv(docs, tmp / "docs.tsv")
        for name, (queries, qrels) in splits.items():
            write_tsv(queries, tmp / name / "queries.tsv")
            write_qrels(qrels, tmp / name / "qrels.txt")
        (tmp / "spec.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
    return folder
