# Helpers (functions and constants); the wildcard constraints are in the Snakefile. Other .smk files hold rules only.
import os
import re
from pathlib import Path

from snakemake.logging import logger
from stagewise.settings import cell_training
from stagewise.config import (
    MAIN_CORPUS,
    corpora,
    first_stage_depth,
    negatives_run_path,
    out_of_domain,
    relevance_thresholds,
    test_set_corpora,
    test_set_dataset,
    validate_config,
)
from stagewise.grid import grid_cells, last_stage, stage_one_schedule
from stagewise.data import trec_dl
from stagewise.data.datasets import is_local, local_folder
from stagewise.data.prepare import PREPARED_ENV, is_hub_id
from stagewise.errors import ConfigError
from stagewise.hand_obtained import absent_message, hand_obtained_inputs

validate_config(config)

RANKERS = list(config["rankers"])
RANKERS_OF_KIND = {
    kind: [r for r in RANKERS if config["rankers"][r]["kind"] == kind] for kind in ("bm25", "colbert", "run")
}
# rankers whose candidates every model re-ranks (the others are first-stage baselines only)
RERANKED_RANKERS = [r for r in RANKERS if config["rankers"][r].get("rerank", True)]
RERANKERS = list(config["rerankers"])
# the schedule axis: each schedule, a stage-2 sweep expanded into its cells (C-D, C-D_lr6e-12, ...)
CELLS = grid_cells(config)
SEEDS = config["seeds"]
TEST_SETS = list(config["test_sets"])
# test set -> its dataset (an entry is a dataset or {dataset, relevance_threshold}), and its relevance threshold
TEST_SET_DATASETS = {name: test_set_dataset(spec) for name, spec in config["test_sets"].items()}
RELEVANCE_THRESHOLDS = relevance_thresholds(config)
# queries a first-stage ranker retrieves for: every test set and the training queries
QUERY_SETS = {**TEST_SET_DATASETS, "train": config["train_queries"]}
# corpus key -> dataset: the grid's corpus (main) and each out-of-domain test set's own; query set -> its corpus key
CORPORA = corpora(config)
CORPUS_OF = {**test_set_corpora(config), "train": MAIN_CORPUS}
# test sets the tables show out of domain (after the in-domain ones, with their mean)
OUT_OF_DOMAIN = out_of_domain(config)
# the training run that supplies C's hard negatives: an existing file, or a ranker's retrieval
NEGATIVES_RUN = config["training"]["C"].get("negatives_run")
# paths the config names that the user provides (teacher files, an existing training run, run files, local dataset
# folders, checkpoints): no rule makes them, so no job deletes them; given() checks them as jobs are planned
HAND_OBTAINED = {item.path: item for item in hand_obtained_inputs(config)}
# ir_datasets ids the grid reads, and hub checkpoints it loads: prepared on the submitting host by local rules
IR_DATASETS = sorted({s for s in [*CORPORA.values(), *QUERY_SETS.values()] if not is_local(s)})
HUB_IDS = sorted(
    {s["pretrained"] for s in config["rerankers"].values() if is_hub_id(s.get("pretrained", "/"))}
    | {s["checkpoint"] for s in config["rankers"].values() if is_hub_id(s.get("checkpoint", "/"))}
)
if IR_DATASETS:
    # ir_datasets' home on the shared file system (unless you keep one already), and jobs that stop at once when a
    # dataset was not prepared instead of downloading it
    os.environ.setdefault("IR_DATASETS_HOME", str(Path("resources/ir_datasets").resolve()))
    os.environ[PREPARED_ENV] = str(Path("resources/ir_datasets/prepared").resolve())
# with --software-deployment-method conda, the environments (envs/) hold stagewise's dependencies and the library is
# the checkout's: its src/ goes on PYTHONPATH for every job (when the workflow runs from a checkout)
SOURCE_TREE = Path(workflow.basedir).parent / "src"
if (SOURCE_TREE / "stagewise").is_dir():
    os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [str(SOURCE_TREE), os.environ.get("PYTHONPATH")])))
# jobs read checkpoints from resources/hub; the download_checkpoint rule alone goes online
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def given(paths):
    """Rule inputs (a path or a list); each the user provides must be present: an absent one stops the run while
    Snakemake plans it, before any job, naming its config key and where to obtain it. A dry run warns instead and
    plans without it."""
    kept = []
    for path in [paths] if isinstance(paths, str) else paths:
        item = HAND_OBTAINED.get(path)
        if item is None or item.present():
            kept.append(path)
        elif workflow.dryrun:
            warn_absent(item)
        else:
            raise ConfigError(absent_message(item, [i for i in HAND_OBTAINED.values() if not i.present()]))
    return kept[0] if isinstance(paths, str) and kept else kept


WARNED = set()


def warn_absent(item):
    if item.path not in WARNED:
        WARNED.add(item.path)
        logger.warning(f"{absent_message(item)} (This dry run plans as if it were there; a run stops here.)")


def check_no_rule_writes_hand_obtained():
    """Stop when a rule could write a path the user provides, or a folder holding one (Snakemake deletes a job's
    outputs before it runs). Called once every rule is defined."""
    for item in HAND_OBTAINED.values():
        path = Path(os.path.normpath(item.path))
        for target in [path, *list(path.parents)[:-1]]:  # the path and the folders holding it, not . or /
            writers = [r.name for r in workflow.rules if r.is_producer(str(target))]
            if writers:
                where = f"{item.path}," if target == path else f"{item.path}, inside {target},"
                raise ConfigError(
                    f"config key {item.key!r} names {where} which rule {writers[0]} writes. Snakemake deletes a "
                    "job's outputs before the job runs: give a path that no rule writes."
                )


def prepared(spec):
    """The marker the prepare_dataset rule writes for an ir_datasets id (downloaded, docstore built)."""
    return f"resources/ir_datasets/prepared/{spec}.json"


def corpus_files(corpus=MAIN_CORPUS):
    """A local corpus is the docs.tsv of its folder; an ir_datasets corpus is its prepared marker."""
    spec = CORPORA[corpus]
    return given([str(local_folder(spec) / "docs.tsv")]) if is_local(spec) else [prepared(spec)]


def doc_store_files(corpus=MAIN_CORPUS):
    """The offset index of a local corpus (the doc_store rule builds it); an ir_datasets corpus has its own."""
    return {"doc_store": f"resources/docstore/{corpus}"} if is_local(CORPORA[corpus]) else {}


def dataset_files(spec, with_docs=True, corpus=MAIN_CORPUS):
    """Files a query set reads: a local folder's queries and qrels (made by a rule or given), none for ir_datasets;
    and its corpus's."""
    if is_local(spec):
        folder = local_folder(spec)
        files = given([str(folder / "queries.tsv"), str(folder / "qrels.txt")])
    else:
        files = [prepared(spec)]
    return files + (corpus_files(corpus) if with_docs else [])


def corpus_of(wildcards):
    """The corpus key of a job's query set (the dataset wildcard)."""
    return CORPUS_OF[wildcards.dataset]


def query_set_files(wildcards):
    return dataset_files(QUERY_SETS[wildcards.dataset], with_docs=False)


def train_query_files(wildcards):
    return dataset_files(config["train_queries"], with_docs=False)


def test_set_qrels(wildcards):
    """Queries and qrels of every test set (the evaluation reads them all)."""
    return [f for t in TEST_SETS for f in dataset_files(TEST_SET_DATASETS[t], with_docs=False)]


def names_of(names):
    """A wildcard constraint matching exactly these names (and nothing when the list is empty)."""
    return "|".join(map(re.escape, names)) or "(?!)"


def train_rankers():
    """Rankers whose training-query run something reads: the hard-negative source (unless an existing run
    supplies the negatives) and the simulated teacher."""
    rankers = set() if NEGATIVES_RUN else {config["training"]["C"]["negatives_ranker"]}
    if "synthetic" in config:
        rankers.add(config["synthetic"]["teacher_ranker"])
    return sorted(rankers)


def first_stage_runs():
    runs = expand("results/runs/first_stage/{ranker}/{dataset}.run", ranker=RANKERS, dataset=TEST_SETS)
    return runs + expand("results/runs/first_stage/{ranker}/train.run", ranker=train_rankers())


def hub_folder(name):
    """A hub checkpoint's local copy (the download_checkpoint rule); a local folder or package name as it is."""
    return f"resources/hub/{name}" if name in HUB_IDS else name


def colbert_checkpoint(ranker):
    """The checkpoint a ColBERT ranker names (its local copy for a hub id), or the one frozen for it."""
    settings = config["rankers"][ranker]
    return hub_folder(settings["checkpoint"]) if settings.get("checkpoint") else f"resources/encoders/{ranker}"


def colbert_checkpoint_files(wildcards):
    """A rule input when the checkpoint is a folder (frozen here, downloaded here, or given)."""
    path = colbert_checkpoint(wildcards.ranker)
    settings = config["rankers"][wildcards.ranker]
    return given([path]) if "encoder" in settings or path.startswith("resources/hub/") or path in HAND_OBTAINED else []


def backbone_spec(wildcards):
    """A reranker's settings, a hub checkpoint replaced by its local copy."""
    spec = dict(config["rerankers"][wildcards.reranker])
    if spec.get("pretrained"):
        spec["pretrained"] = hub_folder(spec["pretrained"])
    return spec


def backbone_inputs(wildcards):
    """A backbone built from config trains its tokenizer on the corpus; a hub checkpoint needs its local copy."""
    pretrained = config["rerankers"][wildcards.reranker].get("pretrained")
    if pretrained:
        return [hub_folder(pretrained)] if pretrained in HUB_IDS else []
    return corpus_files()


def init_model(wildcards):
    """A two-stage cell starts from the stage-1 model of the same reranker and seed (every cell of a sweep the same)."""
    first = stage_one_schedule(wildcards.schedule)
    if first:
        return f"results/models/{wildcards.reranker}/{first}/seed{wildcards.seed}"
    return f"resources/backbones/{wildcards.reranker}"


def training_inputs(wildcards):
    inputs = {"init": init_model(wildcards), "queries": dataset_files(config["train_queries"]), **doc_store_files()}
    if last_stage(wildcards.schedule) == "C":
        inputs["candidates"] = "resources/training/candidates"
    else:
        inputs["teacher"] = given(teacher_files())
    return inputs


def negatives_run(wildcards):
    """The training run C's pools come from: an existing file (training.C.negatives_run) or a ranker's retrieval."""
    path = negatives_run_path(config)
    return given(path) if NEGATIVES_RUN else path


def imported_run(wildcards):
    """A run-file ranker's run for one query set."""
    return given(config["rankers"][wildcards.ranker]["runs"][wildcards.dataset])


def reference_file(wildcards):
    return given(config["reference"]["file"]) if config.get("reference", {}).get("file") else []


def teacher_files():
    """The teacher's files: a TREC run, or RankGPT candidates + permutations."""
    teacher = config["teacher"]
    return [teacher["run"]] if teacher.get("run") else [teacher["candidates"], teacher["permutations"]]


def model_targets():
    return expand("results/models/{reranker}/{schedule}/seed{seed}", reranker=RERANKERS, schedule=CELLS, seed=SEEDS)


# the trained models of the grid: (reranker, schedule, seed)
MODELS = [(r, s, seed) for r in RERANKERS for s in CELLS for seed in SEEDS]
# what the tables must cover (checked by the scripts: an existing metrics file whose update cannot be planned would
# otherwise hide a test set); a change of it reruns the tables
GRID_EXPECTED = {
    "test_sets": TEST_SETS,
    "rankers": RANKERS,
    "reranked_rankers": RERANKED_RANKERS,
    "cells": MODELS,
}


def cost_cells():
    """The trained models whose costs the efficiency table adds up: the grid's, and the stage-1 models of its
    two-stage cells (trained whether or not C and D are cells themselves)."""
    cells = dict.fromkeys(MODELS)
    for r, s, seed in MODELS:
        if stage_one_schedule(s):
            cells.setdefault((r, stage_one_schedule(s), seed))
    return list(cells)


def agreement_keys():
    """(ranker, reranker, cell, seed, test set, stage-1 cell) of every two-stage cell whose stage-1 model is a cell of
    the grid too: their re-rankings are compared (how far stage 2 moved the ranking)."""
    return [
        (ranker, r, s, seed, t, stage_one_schedule(s))
        for ranker in RERANKED_RANKERS
        for r, s, seed in MODELS
        if stage_one_schedule(s) in CELLS
        for t in TEST_SETS
    ]


def efficiency_inputs(wildcards=None):
    """Model folders and training benchmarks of cost_cells(), re-ranking benchmarks of the grid, the re-ranked runs of
    agreement_keys() (stage 2, then stage 1) (in these orders)."""
    cells = cost_cells()
    pairs = agreement_keys()
    return {
        "stage2_runs": [f"results/runs/rerank/{k}/{r}/{s}/seed{seed}/{t}.run" for k, r, s, seed, t, _ in pairs],
        "stage1_runs": [f"results/runs/rerank/{k}/{r}/{f}/seed{seed}/{t}.run" for k, r, _, seed, t, f in pairs],
        "models": [f"results/models/{r}/{s}/seed{seed}" for r, s, seed in cells],
        "train": [f"benchmarks/train/{r}/{s}/seed{seed}.tsv" for r, s, seed in cells],
        "rerank": [
            f"benchmarks/rerank/{ranker}/{r}/{s}/seed{seed}/{t}.tsv"
            for ranker in RERANKED_RANKERS
            for r, s, seed in MODELS
            for t in TEST_SETS
        ],
        "metrics": rerank_metrics(),
    }


def rerank_runs(wildcards):
    """A ranker's re-ranked runs, cell by cell (MODELS order), test set by test set (TEST_SETS order)."""
    return [
        f"results/runs/rerank/{wildcards.ranker}/{r}/{s}/seed{seed}/{t}.run" for r, s, seed in MODELS for t in TEST_SETS
    ]


def rerank_metrics():
    return expand("results/metrics/rerank/{ranker}.tsv", ranker=RERANKED_RANKERS)


def trec_dl_source_files(wildcards):
    """The shared TREC DL files the trec_dl_dataset rule reads (with a trec_dl section only)."""
    return given([str(p) for p in trec_dl.source_files(config["trec_dl"]["source"])]) if "trec_dl" in config else []


def first_stage_metrics():
    return expand("results/metrics/first_stage/{ranker}.tsv", ranker=RANKERS)


def all_targets():
    """The end of the workflow: tables (CSV, Markdown, LaTeX), significance tests, plots."""
    targets = [
        "results/tables/main.csv",
        "results/tables/main.md",
        "results/tables/main.tex",
        "results/tables/significance.csv",
        "results/plots/seed_spread.png",
        "results/tables/efficiency.csv",
        "results/tables/efficiency.md",
        "results/plots/efficiency.png",
        "results/model_cards",
    ]
    targets += expand("results/plots/{dataset}.png", dataset=TEST_SETS)
    if "reference" in config:
        targets.append("results/tables/vs_reference.csv")
    if config["claims"]:
        targets += ["results/tables/claims.csv", "results/tables/claims.md"]
    return targets


def warn_missing_intermediates():
    """Snakemake does not rebuild a missing intermediate file while what was made from it is up to date: a model or
    run deleted by a job that failed or was killed after Snakemake removed its old output (as it does before every
    job) stays missing, and the tables keep numbers from before. Say so, with the command that rebuilds them."""
    if not os.path.exists("results/tables/main.csv"):
        return
    expected = [
        *model_targets(),
        *first_stage_runs(),
        *[
            f"results/runs/rerank/{k}/{r}/{s}/seed{seed}/{t}.run"
            for k in RERANKED_RANKERS
            for r, s, seed in MODELS
            for t in TEST_SETS
        ],
    ]
    missing = [path for path in expected if not os.path.exists(path)]
    if missing:
        listing = "logs/missing-intermediates.txt"
        os.makedirs("logs", exist_ok=True)
        with open(listing, "w") as f:
            f.write("\n".join(missing) + "\n")
        logger.warning(
            f"stagewise warning: {len(missing)} models or runs of the grid are missing (e.g. {missing[0]}) while "
            "results/tables/main.csv exists: a job that failed or was killed after Snakemake deleted its old "
            "output leaves them so, and Snakemake does not rebuild them while the tables are newer. The tables "
            f"may hold numbers from before. Rebuild them: snakemake $(cat {listing}) [your options], then the "
            "tables follow."
        )
