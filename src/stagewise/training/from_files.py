"""A stage's training groups built from files: C from the training queries, their qrels and a first-stage run (or
the candidates store built from it), D from the teacher's rankings or scores; texts read from the corpus when a
group is drawn. Also the list of files the groups came from, which the training's fingerprint records."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..settings import TeacherSettings, check_teacher_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingFiles:
    """The files a stage's training groups are built from."""

    queries: str  #: the training queries and their qrels (a dataset spec)
    corpus: str  #: the corpus the passages come from (a dataset spec)
    run: str | None = None  #: C: the training queries' first-stage run (a TREC run file), or
    candidates: str | None = None  #: C: the candidates store the training_candidates rule built from it
    candidates_source: str | None = None  #: C: the run the store was built from, checked to be that file
    doc_store: str | None = None  #: a local corpus's offset index (texts read by id)
    teacher: TeacherSettings | None = None  #: D: the teacher's rankings


def training_groups(settings, files: TrainingFiles, seed: int):
    """The training groups of a stage (``settings``: its StageSettings; a ``ContrastiveGroups``, or for D a
    ``DistillationGroups``, or ``ScoredDistillationGroups`` for a teacher that gives scores): C takes hard negatives
    from ``files.candidates`` (see stagewise.data.candidates) or the TREC run ``files.run``; D takes the teacher's
    rankings or scores, and stops on a loss the teacher cannot give (``stagewise.settings.check_teacher_loss``). Texts
    are read when a group is drawn, from the doc store (a local corpus's offset index) or ir_datasets' docstore; a
    local corpus without an index is read into memory."""
    from ..data import datasets
    from ..data.candidates import Candidates
    from ..io import read_run_by_rank
    from .sampling import ContrastiveGroups, DistillationGroups, ScoredDistillationGroups

    queries = datasets.queries(files.queries)
    if settings.kind == "C":
        depth = settings.negatives_depth
        # each query's top-negatives_depth by the run's rank column (not its line order; ties in score do not move
        # the cut), as the released code cuts its ColBERTv2 training run: from the store the training_candidates
        # rule built (memory-mapped), or read here from a run file
        if files.candidates is not None:
            pools = Candidates.open(files.candidates, source=files.candidates_source)
            if pools.meta["depth"] < depth:
                raise ValueError(
                    f"the candidates store {files.candidates} holds the top {pools.meta['depth']}, "
                    f"training.C.negatives_depth asks for {depth}"
                )
        else:
            pools = Candidates.from_rankings(read_run_by_rank(files.run, depth), datasets.qrels(files.queries))
        texts = _texts(files, pools.docids, settings.random_negatives)
        dataset = ContrastiveGroups(queries, pools, texts, settings, seed)
        counts = dataset.policy_counts
        log.info(
            "positives (policy %s): %d queries with a positive in the top %d, %d added from qrels, "
            "%d dropped, %d kept with an arbitrary target, %d without any positive skipped",
            settings.positive_policy,
            counts["retrieved"],
            depth,
            counts["added"],
            counts["dropped"],
            counts["kept"],
            counts["no_positive"],
        )
    else:
        teacher = files.teacher
        check_teacher_loss(settings.loss, teacher)
        ranked = read_teacher_rankings(teacher)
        # the query text the teacher ranked for (RankGPT's candidates carry it), else the training queries'
        queries = {**queries, **ranked.queries}
        texts = _texts(files, {d for r in ranked.rankings.values() for d in r}, 0)
        if teacher.labels == "scores":
            dataset = ScoredDistillationGroups(queries, ranked, texts, settings.group_size, seed)
        else:
            dataset = DistillationGroups(
                queries,
                ranked.rankings,
                texts,
                settings.group_size,
                seed,
                ranking_size=teacher.ranking_size if not teacher.run else None,
            )
        if settings.validation_fraction:
            # held-out groups are evaluated by the training queries' qrels, not by the teacher's labels
            dataset.judged_by(datasets.qrels(files.queries))
        if dataset.without_query:
            log.warning(
                "teacher: %d of %d rankings skipped: their query is neither in the teacher's candidates nor in %s",
                dataset.without_query,
                len(ranked.rankings),
                files.queries,
            )
    log.info("stage %s: %d training groups", settings.kind, len(dataset))
    return dataset


def data_files(kind: str, files: TrainingFiles) -> list:
    """The files a stage's training groups come from (local datasets, the run or candidates store, the teacher's
    files)."""
    from ..data import datasets

    found = []
    for spec in (files.queries, files.corpus):
        if datasets.is_local(spec):
            folder = datasets.local_folder(spec)
            found += [p for p in (folder / "queries.tsv", folder / "qrels.txt", folder / "docs.tsv") if p.exists()]
    if kind == "C":
        path = Path(files.run or files.candidates)
        found += sorted(path.iterdir()) if path.is_dir() else [path]
    else:
        found += files.teacher.files()
    return found


def read_teacher_rankings(teacher: TeacherSettings):
    """The teacher: a TREC run, scored triples, or RankGPT candidates + permutations (md5-checked); a
    ``stagewise.data.teacher.Teacher`` (with the teacher's scores where a run or triples give them)."""
    from ..data.teacher import check_md5, read_teacher, read_teacher_run, read_teacher_triples

    md5 = teacher.md5 or {}
    if teacher.run:
        check_md5(teacher.run, md5.get("run"))
        return read_teacher_run(teacher.run, teacher.depth)
    if teacher.triples:
        check_md5(teacher.triples, md5.get("triples"))
        return read_teacher_triples(teacher.triples)
    check_md5(teacher.candidates, md5.get("candidates"))
    check_md5(teacher.permutations, md5.get("permutations"))
    return read_teacher(
        teacher.candidates, teacher.permutations, teacher.ranking_size, teacher.malformed, teacher.repeated
    )


def _texts(files: TrainingFiles, needed, random_negatives):
    """The texts of the training groups (see stagewise.data.texts): a store read on demand where there is one."""
    from ..data import datasets
    from ..data.texts import InMemoryTexts, corpus_texts, doc_texts

    corpus, doc_store = files.corpus, files.doc_store
    if doc_store is not None or (not datasets.is_local(corpus) and not random_negatives):
        texts = corpus_texts(corpus, doc_store)
        # against an offset index in one vectorized pass; ir_datasets' docstore is the corpus the runs came from
        if doc_store is not None:
            missing = texts.missing(needed)
            if missing:
                raise ValueError(f"{len(missing)} training passages are not in the corpus {corpus}, e.g. {missing[:3]}")
        return texts
    if random_negatives:
        # random negatives come from the whole corpus
        return InMemoryTexts(dict(datasets.iter_docs(corpus)))
    return InMemoryTexts(doc_texts(corpus, needed.tolist() if isinstance(needed, np.ndarray) else needed))
