"""Teacher rankings for distillation in the RankGPT format the paper's teacher files use.

* candidates (JSON lines): ``{"qid": ..., "query": ..., "retrieved_passages": [{"docid": ..., "rank": 1}, ...]}``
* permutations (JSON list, one string per candidates line): ``"[5] > [18] > ... > [17]"``, where ``[i]`` is
  the i-th retrieved passage (1-based) and the string lists them from best to worst.
"""

from __future__ import annotations

import json
import re

import numpy as np

from ..errors import InputFormatError
from ..io import atomic_path, sorted_ranking

_ITEM = re.compile(r"\[(\d+)\]")


def parse_permutation(text: str, n: int) -> list[int]:
    """0-based order of ``n`` passages from a permutation string; raises ValueError if it is not one."""
    order = [int(i) - 1 for i in _ITEM.findall(text)]
    if sorted(order) != list(range(n)):
        raise ValueError(f"permutation {text[:60]!r} does not list each of passages 1..{n} exactly once")
    return order


def read_teacher(candidates_path, permutations_path) -> dict[str, list[str]]:
    """qid -> docids from best to worst, as the teacher ranked them."""
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
    rankings = {}
    for i, ((cand_line, qid, docids), perm) in enumerate(zip(candidates, permutations)):
        try:
            order = parse_permutation(str(perm), len(docids))
        except ValueError as e:
            line = next((n for n, text in enumerate(lines, start=1) if json.dumps(perm) in text), None)
            raise InputFormatError(permutations_path, f"entry {i + 1} (query {qid}): {e}", line) from None
        rankings[qid] = [docids[j] for j in order]
    return rankings


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
