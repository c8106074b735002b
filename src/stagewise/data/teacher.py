"""Teachers for distillation: rankings in the layout of RankGPT's released files (Sun et al., 2023), a TREC run, or
scored triples.

* candidates (JSON lines, ``marco-train-100k.jsonl``): ``{"query_id", "query", "positive_passages": [...],
  "retrieved_passages": [{"docid", "rank", "text", ...}, ...]}``; ``qid`` instead of ``query_id`` is accepted too.
* permutations (a JSON list aligned with the candidates by line, ``marco-train-100k-gpt3.5.json``):
  ``"[5] > [18] > ... > [17]"`` lists the passages from best to worst, ``[i]`` naming the passage whose ``rank`` is i.

Permutations are parsed with the rule of the paper's released preprocessing (preprocess-rankgpt.ipynb): brackets
removed, split on ``" > "``, every token an integer, exactly ``ranking_size`` tokens; anything else is malformed
(the release kept 90,699 of the 100,000 strings). A string with a repeated id passes that rule: ``repeated``
decides whether it is kept (the release: its data module then keeps each passage's first, best-ranked occurrence)
or dropped. Every case is counted in the log.

A teacher that gives scores is a TREC run (its scores are the teacher's) or triples in the layout of the MS MARCO
cross-encoder-ensemble distillation set (``bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv``, Hofstaetter et
al., 2020, https://zenodo.org/record/4068216): one triple a line, ``pos_score neg_score qid pid_pos pid_neg``
separated by tabs, no header, as lightning-ir's ``ScoredDocTuples`` reads it (``lightning_ir/data/external_datasets/
ir_datasets_utils.py``: ``pos_score, neg_score, qid, pid1, pid2 = line.split()``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputFormatError
from ..io import atomic_path, read_run, sorted_ranking

log = logging.getLogger(__name__)

#: why a permutation string is malformed, in the order the release's rule finds it
MALFORMED = ("not_integer", "wrong_length", "out_of_range")


class MalformedPermutation(ValueError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Teacher:
    """qid -> docids from best to worst; the query texts the teacher saw (empty for a teacher run); counts. A teacher
    that gives scores also has ``scores`` (qid -> docid -> the teacher's score, every passage of ``rankings``), and
    triples the ``positives`` they name per query (in file order)."""

    rankings: dict[str, list[str]]
    queries: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    positives: dict[str, list[str]] = field(default_factory=dict)


def parse_permutation(text: str, n: int) -> list[int]:
    """The released rule: the ``n`` integers of ``"[a] > [b] > ..."`` in order (1-based, repeats kept).

    Raises MalformedPermutation (reason 'not_integer' or 'wrong_length') where the release drops the string."""
    tokens = str(text).replace("[", "").replace("]", "").split(" > ")
    try:
        ids = [int(t) for t in tokens]
    except ValueError:
        raise MalformedPermutation(
            "not_integer", f"permutation {str(text)[:60]!r} has a token that is not an integer"
        ) from None
    if len(ids) != n:
        raise MalformedPermutation("wrong_length", f"permutation {str(text)[:60]!r} lists {len(ids)} ids, {n} expected")
    return ids


def first_occurrences(ids: list[int]) -> list[int]:
    """``ids`` without later repeats (each id keeps its first, best place)."""
    seen = set()
    return [i for i in ids if not (i in seen or seen.add(i))]


def check_md5(path, expected: str | None):
    """Stop when a file's md5 differs from the expected one (None: no check)."""
    if not expected:
        return
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != expected:
        raise InputFormatError(path, f"md5 is {h.hexdigest()}, the config expects {expected} (a different release?)")


def _read_candidates(path) -> list[tuple[int, str, str | None, dict[int, str]]]:
    """(line, qid, query text, rank -> docid) per candidates line; text fields are not kept."""
    from ..io import text_lines

    candidates = []
    for lineno, line in text_lines(path):  # names the file and line of undecodable bytes
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            qid = entry["query_id"] if "query_id" in entry else entry["qid"]
            by_rank = {}
            for passage in entry["retrieved_passages"]:
                rank = int(passage["rank"])
                if rank in by_rank:
                    raise ValueError(f"rank {rank} appears twice in retrieved_passages")
                by_rank[rank] = str(passage["docid"])
        except KeyError as e:
            raise InputFormatError(
                path,
                f"not a candidates entry (no {e} field; expected query_id or qid, "
                "query, retrieved_passages with docid and rank)",
                lineno,
            ) from None
        except (ValueError, TypeError, AttributeError) as e:
            raise InputFormatError(path, f"not a candidates entry ({e})", lineno) from None
        query = entry.get("query")
        candidates.append((lineno, str(qid), None if query is None else str(query), by_rank))
    return candidates


def read_teacher(
    candidates_path, permutations_path, ranking_size: int | None = 20, malformed: str = "drop", repeated: str = "keep"
) -> Teacher:
    """The teacher's rankings from RankGPT-layout candidates + permutations (see the module docstring).

    ``ranking_size``: tokens a permutation must have (None: as many as its candidates line retrieved).
    ``malformed``: 'drop' skips a malformed permutation (counted per reason) or 'error' stops at the first one
    with file and line. ``repeated``: 'keep' a string with a repeated id (each passage at its first place, the
    passages it leaves out are not in the ranking) or 'drop' it; counted either way.
    """
    if malformed not in ("error", "drop"):
        raise ValueError(f"malformed must be 'error' or 'drop', not {malformed!r}")
    if repeated not in ("keep", "drop"):
        raise ValueError(f"repeated must be 'keep' or 'drop', not {repeated!r}")
    candidates = _read_candidates(candidates_path)
    from ..io import text_lines

    lines = [line for _, line in text_lines(permutations_path)]
    try:
        permutations = json.loads("\n".join(lines))
    except json.JSONDecodeError as e:
        raise InputFormatError(permutations_path, f"not valid JSON ({e.msg})", e.lineno) from None
    if not isinstance(permutations, list) or len(permutations) != len(candidates):
        found = f"{len(permutations)} entries" if isinstance(permutations, list) else type(permutations).__name__
        raise InputFormatError(
            permutations_path,
            f"expected a JSON list of {len(candidates)} permutation strings, "
            f"one per line of {candidates_path}; found {found}",
        )
    teacher = Teacher({}, {}, dict.fromkeys(("permutations", "kept", *MALFORMED, "repeated", "duplicate_query"), 0))
    counts = teacher.counts
    counts["permutations"] = len(permutations)
    for i, ((cand_line, qid, query, by_rank), perm) in enumerate(zip(candidates, permutations)):
        try:
            ids = parse_permutation(perm, ranking_size or len(by_rank))
            missing = sorted({j for j in ids if j not in by_rank})
            if missing:
                raise MalformedPermutation(
                    "out_of_range",
                    f"ids {missing} name no passage of line {cand_line} of "
                    f"{candidates_path} (ranks {min(by_rank, default=0)}.."
                    f"{max(by_rank, default=0)})",
                )
        except MalformedPermutation as e:
            if malformed == "drop":
                counts[e.reason] += 1
                continue
            line = next((k for k, text in enumerate(lines, start=1) if json.dumps(perm) in text), None)
            raise InputFormatError(permutations_path, f"entry {i + 1} (query {qid}): {e}", line) from None
        distinct = first_occurrences(ids)
        if len(distinct) < len(ids):
            counts["repeated"] += 1
            if repeated == "drop":
                continue
        if qid in teacher.rankings:
            counts["duplicate_query"] += 1  # a later line for the same query replaces the earlier one
        teacher.rankings[qid] = [by_rank[j] for j in distinct]
        if query is not None:
            teacher.queries[qid] = query
        counts["kept"] += 1
    _log_counts(counts, repeated, ranking_size, permutations_path)
    return teacher


def _log_counts(counts, repeated, ranking_size, path):
    dropped = sum(counts[r] for r in MALFORMED) + (counts["repeated"] if repeated == "drop" else 0)
    log.info(
        "teacher: %d of %d permutations kept, %d dropped (%d with a token that is not an integer, %d without "
        "exactly %s ids, %d naming a passage the candidates line lacks%s); %d with a repeated id %s (%s)",
        counts["kept"],
        counts["permutations"],
        dropped,
        counts["not_integer"],
        counts["wrong_length"],
        ranking_size or "the retrieved number of",
        counts["out_of_range"],
        f", {counts['repeated']} with a repeated id" if repeated == "drop" else "",
        counts["repeated"],
        "dropped" if repeated == "drop" else "kept, each passage at its first place",
        path,
    )
    if dropped:
        log.warning("teacher: dropped %d of %d permutations (%s)", dropped, counts["permutations"], path)
    if counts["duplicate_query"]:
        log.warning(
            "teacher: %d queries have more than one candidates line; the last one is used (%s)",
            counts["duplicate_query"],
            path,
        )


def read_teacher_run(path, depth: int = 20) -> Teacher:
    """A teacher given as a TREC run: each query's top-``depth`` by score (ties in trec_eval's order, see
    ``stagewise.io.sorted_ranking``), with their scores (the labels of a teacher that gives scores)."""
    tops = {qid: sorted_ranking(docs)[:depth] for qid, docs in read_run(path).items()}
    return Teacher(
        {qid: [d for d, _ in top] for qid, top in tops.items()},
        {},
        {"kept": len(tops)},
        scores={qid: dict(top) for qid, top in tops.items()},
    )


#: the columns of a scored triple, in the order of the MS MARCO cross-encoder-ensemble file
TRIPLE_COLUMNS = ("pos_score", "neg_score", "qid", "pid_pos", "pid_neg")


def read_teacher_triples(path) -> Teacher:
    """A teacher that gives scores as triples, ``pos_score neg_score qid pid_pos pid_neg`` a line (``TRIPLE_COLUMNS``;
    tabs, or any whitespace as lightning-ir splits them); a line with another number of columns or a score that is no
    finite number stops with the file and line, and so does a first line with the ids first (``_ids_first``). Per
    query: the positives the triples name (``positives``, in file
    order), every passage's score (a passage met again keeps its first score; a differing later one is counted and
    logged) and ``rankings``, the query's passages by descending score."""
    from ..io import text_lines

    scores: dict[str, dict[str, float]] = {}
    positives: dict[str, list[str]] = {}
    counts = {"triples": 0, "differing_scores": 0}
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != len(TRIPLE_COLUMNS):
            raise InputFormatError(
                path,
                f"expected {len(TRIPLE_COLUMNS)} columns '{' '.join(TRIPLE_COLUMNS)}' "
                f"(the cross-encoder-ensemble triples' layout), got {len(parts)}",
                lineno,
            )
        pos_score, neg_score, qid, pid_pos, pid_neg = parts
        if not counts["triples"] and _ids_first(parts):
            # numeric ids would read as scores
            raise InputFormatError(
                path,
                f"the first triple has integer ids where the scores belong and scores where "
                f"the ids belong; expected '{' '.join(TRIPLE_COLUMNS)}'",
                lineno,
            )
        try:
            pair = {pid_pos: float(pos_score), pid_neg: float(neg_score)}
        except ValueError:
            raise InputFormatError(
                path, f"pos_score {pos_score!r} or neg_score {neg_score!r} is not a number", lineno
            ) from None
        if not all(np.isfinite(list(pair.values()))):
            raise InputFormatError(path, f"pos_score {pos_score!r} or neg_score {neg_score!r} is not finite", lineno)
        counts["triples"] += 1
        known = scores.setdefault(qid, {})
        for docid, score in pair.items():
            counts["differing_scores"] += docid in known and known[docid] != score
            known.setdefault(docid, score)
        if pid_pos not in positives.setdefault(qid, []):
            positives[qid].append(pid_pos)
    rankings = {qid: [d for d, _ in sorted_ranking(docs)] for qid, docs in scores.items()}
    counts["kept"] = len(rankings)
    log.info(
        "teacher: %d triples of %d queries, %d passages with their scores (%s)",
        counts["triples"],
        len(rankings),
        sum(len(r) for r in rankings.values()),
        path,
    )
    if counts["differing_scores"]:
        log.warning(
            "teacher: %d times a triple gives a passage another score than an earlier line of its query; "
            "the first score is kept (%s)",
            counts["differing_scores"],
            path,
        )
    return Teacher(rankings, {}, counts, scores=scores, positives=positives)


def _ids_first(parts: list[str]) -> bool:
    """Whether a triple looks like ``qid pid_pos pid_neg pos_score neg_score``: three integers, then two numbers that
    are not both integers."""
    try:
        [float(v) for v in parts[3:]]
    except ValueError:
        return False
    return all(p.isdigit() for p in parts[:3]) and not all(v.lstrip("-").isdigit() for v in parts[3:])


def _noisy_grades(run, qrels, depth: int, noise: float, seed: int):
    """(qid, the run's top-``depth``, true grade + seeded Gaussian noise of each) per query with at least two
    passages, queries in sorted order, all drawn from one generator seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    for qid in sorted(run):
        top = [docid for docid, _ in sorted_ranking(run[qid])[:depth]]
        if len(top) < 2:
            continue
        judged = qrels.get(qid, {})
        yield qid, top, np.array([judged.get(d, 0) for d in top], dtype=float) + rng.normal(0, noise, len(top))


def simulated_teacher(run, qrels, queries, depth: int = 20, noise: float = 0.7, seed: int = 0):
    """A demo teacher: rank each query's first-stage top-``depth`` by true grade plus seeded Gaussian noise.

    Returns (candidates, permutations) in RankGPT's layout (without the passage texts).
    """
    candidates, permutations = [], []
    for qid, top, noisy in _noisy_grades(run, qrels, depth, noise, seed):
        judged = qrels.get(qid, {})
        order = sorted(range(len(top)), key=lambda i: (-noisy[i], i))
        candidates.append(
            {
                "query_id": qid,
                "query": queries[qid],
                "positive_passages": [{"docid": d} for d, g in sorted(judged.items()) if g > 0],
                "retrieved_passages": [{"docid": d, "rank": r} for r, d in enumerate(top, start=1)],
            }
        )
        permutations.append(" > ".join(f"[{i + 1}]" for i in order))
    return candidates, permutations


def simulated_teacher_scores(run, qrels, depth: int = 20, noise: float = 0.7, seed: int = 0):
    """The demo teacher's scores: the noisy grades ``simulated_teacher`` ranks by (the same draws for the same
    arguments), as a run (qid -> docid -> score) for a teacher that gives scores; write it with
    ``stagewise.io.write_run``. Its order equals the permutations' wherever no two noisy grades tie (the permutations
    break ties by first-stage rank, a run by document id)."""
    return {
        qid: {d: float(g) for d, g in zip(top, noisy)}
        for qid, top, noisy in _noisy_grades(run, qrels, depth, noise, seed)
    }


def write_teacher(candidates, permutations, candidates_path, permutations_path):
    with atomic_path(candidates_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for entry in candidates:
            f.write(json.dumps(entry) + "\n")
    with atomic_path(permutations_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(p) for p in permutations) + "\n]\n")
