"""Teacher rankings for distillation in the RankGPT format the paper's teacher files use.

* candidates (JSON lines): ``{"qid": ..., "query": ..., "retrieved_passages": [{"docid": ..., "rank": 1}, ...]}``
* permutations (JSON list, one string per candidates line): ``"[5] > [18] > ... > [17]"``, where ``[i]`` is
  the i-th retrieved passage (1-based) and the string lists them from best to worst.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re

import numpy as np

from ..errors import InputFormatError
from ..io import atomic_path, read_run, sorted_ranking

log = logging.getLogger(__name__)

_ITEM = re.compile(r"\[(\d+)\]")


def parse_permutation(text: str, n: int) -> list[int]:
    """0-based order of ``n`` passages from a permutation string; raises ValueError if it is not one."""
    order = [int(i) - 1 for i in _ITEM.findall(text)]
    if sorted(order) != list(range(n)):
        raise ValueError(f"permutation {text[:60]!r} does not list each of passages 1..{n} exactly once")
    return order


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


def read_teacher(candidates_path, permutations_path, ranking_size: int | None = None,
                 malformed: str = "error") -> dict[str, list[str]]:
    """qid -> docids from best to worst, as the teacher ranked them.

    ``ranking_size``: a permutation must rank exactly this many distinct passages (None: as many as the
    candidates line retrieved). ``malformed``: 'error' stops at the first bad permutation with file and line;
    'drop' skips it and logs how many were dropped.
    """
    if malformed not in ("error", "drop"):
        raise ValueError(f"malformed must be 'error' or 'drop', not {malformed!r}")
    candidates = []
    try:
        with open(candidates_path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    docids = [str(p["docid"]) for p in sorted(entry["retrieved_passages"], key=lambda p: p["rank"])]
                    candidates.append((lineno, str(entry["qid"]), docids))
                except (ValueError, KeyError, TypeError) as e:
                    raise InputFormatError(candidates_path, f"not a candidates entry ({e})", lineno) from None
    except FileNotFoundError:
        raise InputFormatError(candidates_path, "file not found") from None
    try:
        with open(permutations_path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise InputFormatError(permutations_path, "file not found") from None
    try:
        permutations = json.loads("\n".join(lines))
    except json.JSONDecodeError as e:
        raise InputFormatError(permutations_path, f"not valid JSON ({e.msg})", e.lineno) from None
    if not isinstance(permutations, list) or len(permutations) != len(candidates):
        raise InputFormatError(permutations_path, f"expected a JSON list of {len(candidates)} permutation strings, "
                                                  f"one per line of {candidates_path}")
    rankings, dropped = {}, 0
    for i, ((cand_line, qid, docids), perm) in enumerate(zip(candidates, permutations)):
        try:
            n = ranking_size or len(docids)
            if len(docids) < n:
                raise ValueError(f"only {len(docids)} retrieved passages (line {cand_line} of {candidates_path}), "
                                 f"{n} expected")
            order = parse_permutation(str(perm), n)
        except ValueError as e:
            if malformed == "drop":
                dropped += 1
                continue
            line = next((k for k, text in enumerate(lines, start=1) if json.dumps(perm) in text), None)
            raise InputFormatError(permutations_path, f"entry {i + 1} (query {qid}): {e}", line) from None
        rankings[qid] = [docids[j] for j in order]
    if dropped:
        log.warning("teacher: dropped %d of %d permutations that do not rank %s distinct passages (%s)",
                    dropped, len(candidates), ranking_size or "all retrieved", permutations_path)
    log.info("teacher: %d rankings from %s", len(rankings), permutations_path)
    return rankings


def read_teacher_run(path, depth: int = 20) -> dict[str, list[str]]:
    """A teacher ranking given as a TREC run: each query's top-``depth`` by score (ties by document id)."""
    return {qid: [d for d, _ in sorted_ranking(docs)[:depth]] for qid, docs in read_run(path).items()}


def simulated_teacher(run, qrels, queries, depth: int = 20, noise: float = 0.7, seed: int = 0):
    """A demo teacher: rank each query's first-stage top-``depth`` by true grade plus seeded Gaussian noise.

    Returns (candidates, permutations) in the RankGPT format above.
    """
    rng = np.random.default_rng(seed)
    candidates, permutations = [], []
    for qid in sorted(run):
        top = [docid for docid, _ in sorted_ranking(run[qid])[:depth]]
        if len(top) < 2:
            continue
        judged = qrels.get(qid, {})
        noisy = np.array([judged.get(d, 0) for d in top], dtype=float) + rng.normal(0, noise, len(top))
        order = sorted(range(len(top)), key=lambda i: (-noisy[i], i))
        candidates.append({"qid": qid, "query": queries[qid],
                           "retrieved_passages": [{"docid": d, "rank": r} for r, d in enumerate(top, start=1)]})
        permutations.append(" > ".join(f"[{i + 1}]" for i in order))
    return candidates, permutations


def write_teacher(candidates, permutations, candidates_path, permutations_path):
    with atomic_path(candidates_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for entry in candidates:
            f.write(json.dumps(entry) + "\n")
    with atomic_path(permutations_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(p) for p in permutations) + "\n]\n")
