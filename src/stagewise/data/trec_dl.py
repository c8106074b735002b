"""TREC DL 2019/2020 passage data as local dataset folders, built from the project's shared files.

The shared folder (``../shared/data`` next to the repository, or ``$STAGEWISE_SHARED_DATA``) holds research-only
copies of the TREC DL topics and qrels, the passages of several first-stage top-100 runs (with text) and
ColBERTv2 top-500 runs (ids only); see the README of each of its folders. Nothing of it is committed: this
module writes, under ``out``:

* ``docs.tsv``: the 24,884 passages with text (the union of the runs' pools), ``docid<TAB>text``;
* ``dl19/``, ``dl20/``: the judged queries and the complete qrels (for evaluation);
* ``dl19-train/``: DL19 as training queries, its qrels restricted to passages with text (positives and
  judged passages must be readable to train on; the others are counted in the log);
* ``runs/<ranker>/<dl19|dl20>.run``: each first-stage run cut at ``depth`` by score, then stripped of the
  passages without text (a cross-encoder cannot score them; only the ColBERTv2 runs have such passages:
  about 15% of their top-100). The counts go to the log and to ``summary.json``.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path

from ..errors import InputFormatError
from ..io import Run, atomic_path, read_qrels, read_queries, read_run, sorted_ranking, write_qrels, write_run, write_tsv

log = logging.getLogger(__name__)

ENV_VAR = "STAGEWISE_SHARED_DATA"
SETS = ("dl19", "dl20")
TEXT_RUNS = "dl19-dl20-first-stage-runs-with-text"
TOPICS = "trec-dl-msmarco-topics-qrels"
# ranker name -> the shared run file of each year, relative to the shared folder
RUNS = {
    "bm25": {s: f"{TEXT_RUNS}/BM25/trec_results_{s}.txt" for s in SETS},
    "bm25_rm3": {s: f"{TEXT_RUNS}/BM25_RM3/trec_results_{s}.txt" for s in SETS},
    "tasb": {s: f"{TEXT_RUNS}/D_BERT_KD_TASB/trec_results_{s}.txt" for s in SETS},
    "ada2": {s: f"{TEXT_RUNS}/OPEN_AI_ADA2/trec_results_{s}.txt" for s in SETS},
    "splade": {s: f"{TEXT_RUNS}/SPLADE_P_P_ENSEMBLE_DISTIL/trec_results_{s}.txt" for s in SETS},
    "colbertv2": {s: f"rank-distillm-dl-runs/__colbert__msmarco-passage-trec-dl-20{s[2:]}-judged.run" for s in SETS},
}
PASSAGES = f"{TEXT_RUNS}/passages_dl19_dl20_union.tsv.gz"
TOPIC_FILES = {"dl19": f"{TOPICS}/topics.dl19-passage.txt", "dl20": f"{TOPICS}/topics.dl20.txt"}
QRELS_FILES = {"dl19": f"{TOPICS}/qrels.dl19-passage.txt", "dl20": f"{TOPICS}/qrels.dl20-passage.txt"}


def shared_data_dir(repo_root=None) -> Path:
    """``$STAGEWISE_SHARED_DATA``, or ``../shared/data`` next to the repository."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    root = Path(repo_root) if repo_root else Path(__file__).resolve().parents[3]
    return root.parent / "shared" / "data"


def source_files(source) -> list[Path]:
    """Every shared file the folders are built from (rule inputs)."""
    source = Path(source)
    names = [PASSAGES, *TOPIC_FILES.values(), *QRELS_FILES.values(), *(p for r in RUNS.values() for p in r.values())]
    return [source / n for n in names]


def read_passages(path) -> dict[str, str]:
    """``docid<TAB>text`` lines of a gzip file; a malformed line stops with file and line."""
    texts = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            docid, sep, text = line.rstrip("\n").partition("\t")
            if not sep or not docid:
                raise InputFormatError(path, "expected 'docid<TAB>text'", lineno)
            texts[docid] = text
    return texts


def keep_with_text(run: Run, texts, depth: int | None) -> tuple[Run, int, int]:
    """Each query's top-``depth`` (by score, ties as everywhere), without the passages that have no text.
    Returns (run, candidates kept, candidates dropped)."""
    out: Run = {}
    kept = dropped = 0
    for qid, docs in run.items():
        ranking = sorted_ranking(docs)[:depth] if depth else sorted_ranking(docs)
        out[qid] = {d: s for d, s in ranking if d in texts}
        kept += len(out[qid])
        dropped += len(ranking) - len(out[qid])
    return out, kept, dropped


def prepare_trec_dl(source, out, depth: int | None = 100) -> dict:
    """Write the TREC DL dataset folders and runs described in the module docstring from the shared folder
    ``source`` into ``out``; returns the summary (also written to ``out/summary.json``)."""
    source, out = Path(source), Path(out)
    missing = [str(p) for p in source_files(source) if not p.exists()]
    if missing:
        raise InputFormatError(
            source,
            f"the shared TREC DL files are incomplete: {len(missing)} missing, "
            f"e.g. {missing[0]} (see the README files of {source})",
        )
    texts = read_passages(source / PASSAGES)
    write_tsv(texts, out / "docs.tsv")
    summary: dict = {"source": str(source), "depth": depth, "passages": len(texts), "sets": {}, "runs": {}}
    for name in SETS:
        qrels = read_qrels(source / QRELS_FILES[name])
        topics = read_queries(source / TOPIC_FILES[name])
        absent = sorted(set(qrels) - set(topics))
        if absent:
            raise InputFormatError(source / QRELS_FILES[name], f"judged queries without a topic, e.g. {absent[0]}")
        judged = {qid: topics[qid] for qid in sorted(qrels)}
        write_tsv(judged, out / name / "queries.tsv")
        write_qrels(qrels, out / name / "qrels.txt")
        summary["sets"][name] = {"queries": len(judged), "judgments": sum(map(len, qrels.values()))}
        log.info(
            "%s: %d judged queries (of %d topics), %d judgments",
            name,
            len(judged),
            len(topics),
            summary["sets"][name]["judgments"],
        )
        if name == "dl19":
            with_text = {q: {d: g for d, g in docs.items() if d in texts} for q, docs in qrels.items()}
            kept = sum(map(len, with_text.values()))
            write_tsv(judged, out / "dl19-train" / "queries.tsv")
            write_qrels({q: d for q, d in with_text.items() if d}, out / "dl19-train" / "qrels.txt")
            summary["sets"]["dl19-train"] = {"queries": len(judged), "judgments": kept}
            log.info(
                "dl19-train: %d of %d judgments have passage text and are kept",
                kept,
                summary["sets"][name]["judgments"],
            )
    for ranker, files in RUNS.items():
        for name, rel in files.items():
            run, kept, dropped = keep_with_text(read_run(source / rel), texts, depth)
            write_run(run, out / "runs" / ranker / f"{name}.run", tag=ranker)
            summary["runs"][f"{ranker}/{name}"] = {"queries": len(run), "kept": kept, "dropped_without_text": dropped}
            log.info(
                "%s %s: %d queries, %d candidates kept, %d dropped (no passage text)",
                ranker,
                name,
                len(run),
                kept,
                dropped,
            )
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
