"""A stage's training groups built from files: C from the training queries, their qrels and a first-stage run (or
the candidates store built from it), D from the teacher's rankings; texts read from the corpus when a group is
drawn. Also the list of files the groups came from, which the training's fingerprint records."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: the kinds of training stage: C (contrastive) and D (distillation)
STAGES = ("C", "D")


def training_groups(stage: str, train_queries: str, corpus: str, hparams: dict, seed: int, *, run_path=None,
                    teacher: dict | None = None, candidates=None, candidates_source=None, doc_store=None):
    """The training groups of a stage (a ``ContrastiveGroups`` or ``DistillationGroups``): C takes hard negatives
    from a candidates store (``candidates``, see stagewise.data.candidates; ``candidates_source``: the training run
    it was built from, checked to be that file) or the TREC run at ``run_path``; D takes the teacher's rankings
    (``teacher``: the config's teacher section). Texts are read when a group is drawn, from ``doc_store`` (a local
    corpus's offset index) or ir_datasets' docstore; a local corpus without an index is read into memory."""
    from ..data import datasets
    from ..data.candidates import Candidates
    from ..io import read_run_by_rank
    from .sampling import ContrastiveGroups, DistillationGroups

    queries = datasets.queries(train_queries)
    if stage == "C":
        # each query's top-negatives_depth by the run's rank column (not its line order; ties in score do not move
        # the cut), as the released code cuts its ColBERTv2 training run: from the store the training_candidates
        # rule built (memory-mapped), or read here from a run file
        if candidates is not None:
            pools = Candidates.open(candidates, source=candidates_source)
            if pools.meta.get("depth", 0) < hparams["negatives_depth"]:
                raise ValueError(f"the candidates store {candidates} holds the top {pools.meta.get('depth')}, "
                                 f"training.C.negatives_depth asks for {hparams['negatives_depth']}")
        else:
            pools = Candidates.from_rankings(read_run_by_rank(run_path, hparams["negatives_depth"]),
                                             datasets.qrels(train_queries))
        texts = _texts(corpus, pools.docids, hparams.get("random_negatives", 0), doc_store)
        dataset = ContrastiveGroups(queries, {}, pools, texts, hparams["negatives"], hparams["negatives_depth"],
                                    hparams["min_positive_grade"], seed, hparams.get("random_negatives", 0),
                                    hparams.get("positive_policy", "add"))
        counts = dataset.policy_counts
        log.info("positives (policy %s): %d queries with a positive in the top %d, %d added from qrels, "
                 "%d dropped, %d kept with an arbitrary target, %d without any positive skipped",
                 hparams.get("positive_policy", "add"), counts["retrieved"], hparams["negatives_depth"],
                 counts["added"], counts["dropped"], counts["kept"], counts["no_positive"])
    elif stage == "D":
        ranked = read_teacher_rankings(teacher)
        # the query text the teacher ranked for (RankGPT's candidates carry it), else the training queries'
        queries = {**queries, **ranked.queries}
        texts = _texts(corpus, {d for r in ranked.rankings.values() for d in r}, 0, doc_store)
        dataset = DistillationGroups(queries, ranked.rankings, texts, hparams["group_size"], seed,
                                     ranking_size=teacher.get("ranking_size") if "run" not in teacher else None)
        if dataset.without_query:
            log.warning("teacher: %d of %d rankings skipped: their query is neither in the teacher's candidates nor "
                        "in %s", dataset.without_query, len(ranked.rankings), train_queries)
    else:
        raise ValueError(f"stage {stage!r} is not one of {sorted(STAGES)}")
    log.info("stage %s: %d training groups", stage, len(dataset))
    return dataset


def data_files(stage, train_queries, corpus, run_path, teacher) -> list:
    """The files a stage's training groups come from (local datasets, the run or candidates store, the teacher's
    files)."""
    from ..data import datasets

    files = []
    for spec in (train_queries, corpus):
        if datasets.is_local(spec):
            folder = datasets.local_folder(spec)
            files += [p for p in (folder / "queries.tsv", folder / "qrels.txt", folder / "docs.tsv") if p.exists()]
    if stage == "C":
        path = Path(run_path)
        files += sorted(path.iterdir()) if path.is_dir() else [path]
    else:
        files += [teacher[k] for k in ("run", "candidates", "permutations") if teacher.get(k)]
    return files


def read_teacher_rankings(teacher: dict):
    """The teacher section of a config: a TREC run, or RankGPT candidates + permutations (md5-checked);
    a ``stagewise.data.teacher.Teacher``."""
    from ..data.teacher import check_md5, read_teacher, read_teacher_run

    md5 = teacher.get("md5") or {}
    if teacher.get("run"):
        check_md5(teacher["run"], md5.get("run"))
        return read_teacher_run(teacher["run"], teacher.get("depth", 20))
    check_md5(teacher["candidates"], md5.get("candidates"))
    check_md5(teacher["permutations"], md5.get("permutations"))
    return read_teacher(teacher["candidates"], teacher["permutations"], teacher["ranking_size"],
                        teacher["malformed"], teacher["repeated"])


def _texts(corpus, needed, random_negatives, doc_store=None):
    """The texts of the training groups (see stagewise.data.texts): a store read on demand where there is one."""
    from ..data import datasets
    from ..data.texts import InMemoryTexts, corpus_texts, doc_texts

    if doc_store is not None or (not datasets.is_local(corpus) and not random_negatives):
        texts = corpus_texts(corpus, doc_store)
        # against an offset index in one vectorized pass; ir_datasets' docstore is the corpus the runs came from
        if doc_store is not None:
            missing = texts.missing(needed)
            if missing:
                raise ValueError(f"{len(missing)} training passages are not in the corpus {corpus}, e.g. "
                                 f"{missing[:3]}")
        return texts
    if random_negatives:
        # random negatives come from the whole corpus
        return InMemoryTexts(dict(datasets.iter_docs(corpus)))
    return InMemoryTexts(doc_texts(corpus, needed.tolist() if isinstance(needed, np.ndarray) else needed))
