# Helpers (functions and constants), the path patterns and the global wildcard constraints. Other .smk files hold
# rules only.
import os
import re
from pathlib import Path

from snakemake.logging import logger
from stagewise import locations
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
)
from stagewise.grid import grid_cells, last_stage, model_cells, stage_one_schedule
from stagewise.data import trec_dl
from stagewise.data.datasets import is_local, local_folder
from stagewise.data.prepare import is_hub_id
from stagewise.environment import set_job_environment
from stagewise.errors import ConfigError
from stagewise.hand_obtained import absent_message, hand_obtained_inputs
from stagewise.workflow_config import settle_workflow_config

# the Snakefile's config/config.yaml is the default: --configfile and --config merge over it or, with `standalone:
# true`, replace it; checked and validated (stagewise.workflow_config)
settle_workflow_config(
    config, workflow.configfiles, workflow.config_settings.overwrite_config, workflow.config_settings.config
)

# Path patterns, each written once: rules write and read them, helpers expand them (a path that one rule alone names,
# such as its log, is written in that rule). Outputs lie under results/, Snakemake's benchmark files under
# results/benchmarks/ mirroring the wildcards, prepared and built inputs under resources/, one log per job in logs/.
MODEL = "results/models/{reranker}/{schedule}/seed{seed}"
FIRST_STAGE_RUN = "results/runs/first_stage/{ranker}/{dataset}.run"
RERANKED_RUN = "results/runs/rerank/{ranker}/{reranker}/{schedule}/seed{seed}/{dataset}.run"
# a re-ranking by a model's other checkpoint ({model}/checkpoints/{checkpoint}: best or last, the one not selected)
RERANKED_CHECKPOINT_RUN = (
    "results/runs/rerank/{ranker}/{reranker}/{schedule}/seed{seed}/checkpoints/{checkpoint}/{dataset}.run"
)
FIRST_STAGE_METRICS = "results/metrics/first_stage/{ranker}.tsv"
RERANK_METRICS = "results/metrics/rerank/{ranker}.tsv"
CHECKPOINT_METRICS = "results/metrics/rerank/{ranker}.checkpoints.tsv"
TRAIN_BENCHMARK = "results/benchmarks/train/{reranker}/{schedule}/seed{seed}.tsv"
# one re-ranking job per (model, test set) re-ranks every reranked ranker's run of the test set
RERANK_BENCHMARK = "results/benchmarks/rerank/{reranker}/{schedule}/seed{seed}/{dataset}.tsv"
MAIN_TABLE = "results/tables/main.csv"
MAIN_TABLE_MARKDOWN = "results/tables/main.md"
MAIN_TABLE_LATEX = "results/tables/main.tex"
SIGNIFICANCE_TABLE = "results/tables/significance.csv"
EFFICIENCY_TABLE = "results/tables/efficiency.csv"
EFFICIENCY_TABLE_MARKDOWN = "results/tables/efficiency.md"
VS_REFERENCE_TABLE = "results/tables/vs_reference.csv"
CLAIMS_TABLE = "results/tables/claims.csv"
CLAIMS_TABLE_MARKDOWN = "results/tables/claims.md"
CHECKPOINTS_TABLE = "results/tables/checkpoints.csv"
CHECKPOINTS_TABLE_MARKDOWN = "results/tables/checkpoints.md"
SCHEDULE_PLOT = "results/plots/{dataset}.png"
SEED_SPREAD_PLOT = "results/plots/seed_spread.png"
EFFICIENCY_PLOT = "results/plots/efficiency.png"
MODEL_CARDS = "results/model_cards"
# the library knows where prepared datasets are marked (stagewise.locations)
PREPARED_DATASET = f"{locations.PREPARED_DATASETS}/{{ir_dataset}}.json"
HUB_CHECKPOINT = "resources/hub/{hub_id}"
DOC_STORE = "resources/docstore/{corpus}"
LUCENE_INDEX = "resources/indexes/{corpus}/lucene"
COLBERT_INDEX = "resources/indexes/{corpus}/colbert/{ranker}"
COLBERT_ENCODER = "resources/encoders/{ranker}"
BACKBONE = "resources/backbones/{reranker}"
TRAINING_CANDIDATES = "resources/training/candidates"
# folders the data rules write; stagewise.hand_obtained knows them too
SYNTHETIC_DATASET = str(locations.SYNTHETIC_DATASET)
SYNTHETIC_TEACHER = str(locations.SYNTHETIC_TEACHER)
TREC_DL_DATASET = str(locations.TREC_DL_DATASET)

RANKERS = list(config["rankers"])
RANKERS_OF_KIND = {
    kind: [r for r in RANKERS if config["rankers"][r]["kind"] == kind] for kind in ("bm25", "colbert", "run")
}
# rankers whose candidates every model re-ranks (the others are first-stage baselines only)
RERANKED_RANKERS = [r for r in RANKERS if config["rankers"][r]["rerank"]]
RERANKERS = list(config["rerankers"])
# the schedule axis: each schedule (once per teacher with two or more: D@rankgpt), a stage-2 sweep expanded into its
# cells (C-D, C-D_lr6e-12, C-D@rankgpt_lr6e-12, ...)
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
# ir_datasets' home, markers of prepared datasets, the checkout's library, the hub offline: for every job
set_job_environment(Path.cwd(), Path(workflow.basedir).parent / "src", ir_datasets=bool(IR_DATASETS))
# the trained models of the grid: (reranker, cell, seed)
MODELS = [(r, s, seed) for r in RERANKERS for s in CELLS for seed in SEEDS]


wildcard_constraints:
    ranker="|".join(map(re.escape, RANKERS)),
    reranker="|".join(map(re.escape, RERANKERS)),
    # the stage-1 models of two-stage cells (C, D or D@<teacher>) are trained whether or not they are cells themselves
    schedule="|".join(map(re.escape, model_cells(config))),
    dataset="|".join(map(re.escape, QUERY_SETS)),
    seed=r"\d+",
    corpus="|".join(map(re.escape, CORPORA)),


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
    return PREPARED_DATASET.format(ir_dataset=spec)


def corpus_files(corpus=MAIN_CORPUS):
    """A local corpus is the docs.tsv of its folder; an ir_datasets corpus is its prepared marker."""
    spec = CORPORA[corpus]
    return given([str(local_folder(spec) / "docs.tsv")]) if is_local(spec) else [prepared(spec)]


def doc_store_files(corpus=MAIN_CORPUS):
    """The offset index of a local corpus (the doc_store rule builds it); an ir_datasets corpus has its own."""
    return {"doc_store": DOC_STORE.format(corpus=corpus)} if is_local(CORPORA[corpus]) else {}


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
    """Every first-stage ranker's runs of the test sets, and the training-query runs that something reads."""
    return expand(FIRST_STAGE_RUN, ranker=RANKERS, dataset=TEST_SETS) + expand(
        FIRST_STAGE_RUN, ranker=train_rankers(), dataset="train"
    )


def hub_folder(name):
    """A hub checkpoint's local copy (the download_checkpoint rule); a local folder or package name as it is."""
    return HUB_CHECKPOINT.format(hub_id=name) if name in HUB_IDS else name


def colbert_checkpoint(ranker):
    """The checkpoint a ColBERT ranker names (its local copy for a hub id), or the one frozen for it."""
    settings = config["rankers"][ranker]
    return hub_folder(settings["checkpoint"]) if settings.get("checkpoint") else COLBERT_ENCODER.format(ranker=ranker)


def colbert_checkpoint_files(wildcards):
    """A rule input when the checkpoint is a folder (frozen here, downloaded here, or given)."""
    settings = config["rankers"][wildcards.ranker]
    made_here = "encoder" in settings or settings.get("checkpoint") in HUB_IDS
    path = colbert_checkpoint(wildcards.ranker)
    return given([path]) if made_here or path in HAND_OBTAINED else []


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
    """A two-stage cell starts from the stage-1 model of the same reranker and seed (every cell of a sweep the same):
    C-D@<teacher> from the C model, D-C@<teacher> from the D model of that teacher."""
    first = stage_one_schedule(wildcards.schedule)
    if first:
        return MODEL.format(reranker=wildcards.reranker, schedule=first, seed=wildcards.seed)
    return BACKBONE.format(reranker=wildcards.reranker)


def training_inputs(wildcards):
    inputs = {"init": init_model(wildcards), "queries": dataset_files(config["train_queries"]), **doc_store_files()}
    if last_stage(wildcards.schedule) == "C":
        inputs["candidates"] = TRAINING_CANDIDATES
    else:
        inputs["teacher"] = given(teacher_files(wildcards.schedule))
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


def teacher_files(cell):
    """The files of a cell's teacher (its name's, or the config's only one): a TREC run, RankGPT candidates +
    permutations, or scored triples."""
    return cell_training(config, cell).teacher.files()


def model_folders(models=MODELS):
    """(reranker, cell, seed) -> the model's folder."""
    return {(r, s, seed): MODEL.format(reranker=r, schedule=s, seed=seed) for r, s, seed in models}


def model_targets():
    return list(model_folders().values())


def other_checkpoints():
    """The models with a checkpoint besides the selected one (their last stage holds queries out): (reranker, cell,
    seed) -> its name, best or last (the one training.<stage>.select did not choose)."""
    stages = {cell: cell_training(config, cell).stage for cell in CELLS}
    return {
        (r, s, seed): ("last" if stages[s].select == "best" else "best")
        for r, s, seed in MODELS
        if stages[s].validation_fraction
    }


# with evaluation.compare_checkpoints: the models whose other checkpoint re-ranks the test sets too
COMPARED_CHECKPOINTS = other_checkpoints() if config["evaluation"]["compare_checkpoints"] else {}
if config["evaluation"]["compare_checkpoints"] and not COMPARED_CHECKPOINTS:
    raise ConfigError(
        "evaluation.compare_checkpoints: no cell holds training queries out (training.<stage>.validation_fraction), "
        "so no model has a best checkpoint to compare"
    )


def checkpoint_runs_by_model(wildcards):
    """A ranker's re-ranked runs by the models' other checkpoints: (reranker, cell, seed) -> test set -> run."""
    return {
        (r, s, seed): {
            t: RERANKED_CHECKPOINT_RUN.format(
                ranker=wildcards.ranker, reranker=r, schedule=s, seed=seed, checkpoint=name, dataset=t
            )
            for t in TEST_SETS
        }
        for (r, s, seed), name in COMPARED_CHECKPOINTS.items()
    }


def checkpoint_runs(wildcards):
    """The evaluate_checkpoints rule's inputs."""
    return [run for runs in checkpoint_runs_by_model(wildcards).values() for run in runs.values()]


# what the tables must cover (checked by the scripts: an existing metrics file whose update cannot be planned would
# otherwise hide a test set); a change of it reruns the tables
GRID_EXPECTED = {
    "test_sets": TEST_SETS,
    "rankers": RANKERS,
    "reranked_rankers": RERANKED_RANKERS,
    "models": MODELS,
}


def cost_models():
    """The trained models whose costs the efficiency table adds up: the grid's, and the stage-1 models of its
    two-stage cells (trained whether or not C and D are cells themselves)."""
    models = dict.fromkeys(MODELS)
    for r, s, seed in MODELS:
        if stage_one_schedule(s):
            models.setdefault((r, stage_one_schedule(s), seed))
    return list(models)


def reranked_run(ranker, reranker, schedule, seed, dataset):
    return RERANKED_RUN.format(ranker=ranker, reranker=reranker, schedule=schedule, seed=seed, dataset=dataset)


def reranked_first_stage_runs(wildcards):
    """A re-ranking job's inputs: the test set's first-stage run of every reranked ranker, in RERANKED_RANKERS' order
    (the order of the job's outputs)."""
    return [FIRST_STAGE_RUN.format(ranker=k, dataset=wildcards.dataset) for k in RERANKED_RANKERS]


def reranked_runs():
    """Every re-ranked run of the grid."""
    return [reranked_run(k, r, s, seed, t) for k in RERANKED_RANKERS for r, s, seed in MODELS for t in TEST_SETS]


def efficiency_files():
    """What the efficiency table reads, by key: the model folder and training benchmark of each of cost_models() by
    (reranker, cell, seed); the re-ranking benchmarks of the grid by (reranker, cell, seed, test set); and,
    by the same key, the re-ranked runs of each two-stage model whose stage-1 model is a model of the grid too, with
    its stage-1 model's (how far stage 2 moved the ranking)."""
    models = cost_models()
    keys = [(k, r, s, seed, t) for k in RERANKED_RANKERS for r, s, seed in MODELS for t in TEST_SETS]
    jobs = [(r, s, seed, t) for r, s, seed in MODELS for t in TEST_SETS]
    return {
        "models": model_folders(models),
        "train_benchmarks": {
            (r, s, seed): TRAIN_BENCHMARK.format(reranker=r, schedule=s, seed=seed) for r, s, seed in models
        },
        "rerank_benchmarks": {
            (r, s, seed, t): RERANK_BENCHMARK.format(reranker=r, schedule=s, seed=seed, dataset=t)
            for r, s, seed, t in jobs
        },
        "stage_runs": {
            (k, r, s, seed, t): (reranked_run(k, r, s, seed, t), reranked_run(k, r, stage_one_schedule(s), seed, t))
            for k, r, s, seed, t in keys
            if stage_one_schedule(s) in CELLS
        },
    }


# computed once: the efficiency rule's inputs and, by key, its params
EFFICIENCY_FILES = efficiency_files()


def efficiency_inputs(wildcards):
    """The files of efficiency_files(), as the efficiency rule's inputs, and the re-ranking metrics."""
    files = EFFICIENCY_FILES
    return {
        "models": list(files["models"].values()),
        "train": list(files["train_benchmarks"].values()),
        "rerank": list(files["rerank_benchmarks"].values()),
        "runs": list(dict.fromkeys(run for pair in files["stage_runs"].values() for run in pair)),
        "metrics": rerank_metrics(),
    }


def first_stage_runs_by_test_set(wildcards):
    """A ranker's first-stage runs: test set -> run."""
    return {t: FIRST_STAGE_RUN.format(ranker=wildcards.ranker, dataset=t) for t in TEST_SETS}


def rerank_runs_by_model(wildcards):
    """A ranker's re-ranked runs: (reranker, cell, seed) -> test set -> run."""
    return {
        (r, s, seed): {t: reranked_run(wildcards.ranker, r, s, seed, t) for t in TEST_SETS} for r, s, seed in MODELS
    }


def rerank_runs(wildcards):
    """A ranker's re-ranked runs (the evaluate_rerank rule's inputs)."""
    return [run for runs in rerank_runs_by_model(wildcards).values() for run in runs.values()]


def rerank_metrics():
    return expand(RERANK_METRICS, ranker=RERANKED_RANKERS)


def trec_dl_source_files(wildcards):
    """The shared TREC DL files the trec_dl_dataset rule reads (with a trec_dl section only)."""
    return given([str(p) for p in trec_dl.source_files(config["trec_dl"]["source"])]) if "trec_dl" in config else []


def first_stage_metrics():
    return expand(FIRST_STAGE_METRICS, ranker=RANKERS)


def table_targets():
    """The tables: main (CSV, Markdown, LaTeX), significance tests, efficiency, and those the config asks for."""
    tables = [MAIN_TABLE, MAIN_TABLE_MARKDOWN, MAIN_TABLE_LATEX, SIGNIFICANCE_TABLE, EFFICIENCY_TABLE]
    tables.append(EFFICIENCY_TABLE_MARKDOWN)
    if "reference" in config:
        tables.append(VS_REFERENCE_TABLE)
    if config["claims"]:
        tables += [CLAIMS_TABLE, CLAIMS_TABLE_MARKDOWN]
    if COMPARED_CHECKPOINTS:
        tables += [CHECKPOINTS_TABLE, CHECKPOINTS_TABLE_MARKDOWN]
    return tables


def all_targets():
    """The end of the workflow: the tables, the plots and the model cards."""
    plots = [SEED_SPREAD_PLOT, EFFICIENCY_PLOT, *expand(SCHEDULE_PLOT, dataset=TEST_SETS)]
    return [*table_targets(), *plots, MODEL_CARDS]


def check_workflow():
    """Checks that need all rules defined, so the Snakefile's last line. None may write a file the user provides
    (Snakemake deletes a job's outputs before it runs); and, once per invocation, models or runs missing under
    existing tables (Snakemake would not rebuild them) and benchmark files left where they were written before."""
    check_no_rule_writes_hand_obtained()
    if workflow.is_main_process:
        warn_missing_intermediates()
        warn_moved_benchmarks()


def warn_missing_intermediates():
    """Snakemake does not rebuild a missing intermediate file while what was made from it is up to date: a model or
    run deleted by a job that failed or was killed after Snakemake removed its old output (as it does before every
    job) stays missing, and the tables keep numbers from before. Say so, with the command that rebuilds them."""
    if not os.path.exists(MAIN_TABLE):
        return
    expected = [*model_targets(), *first_stage_runs(), *reranked_runs()]
    missing = [path for path in expected if not os.path.exists(path)]
    if missing:
        listing = "logs/missing-intermediates.txt"
        os.makedirs("logs", exist_ok=True)
        with open(listing, "w") as f:
            f.write("\n".join(missing) + "\n")
        logger.warning(
            f"stagewise warning: {len(missing)} models or runs of the grid are missing (e.g. {missing[0]}) while "
            f"{MAIN_TABLE} exists: a job that failed or was killed after Snakemake deleted its old "
            "output leaves them so, and Snakemake does not rebuild them while the tables are newer. The tables "
            f"may hold numbers from before. Rebuild them: snakemake $(cat {listing}) [your options], then the "
            "tables follow."
        )


def warn_moved_benchmarks():
    """Snakemake's benchmark files were written under benchmarks/ (beside the committed benchmark scripts) before
    they moved to results/benchmarks/; the efficiency table of a grid run before needs them there."""
    old = [stage for stage in ("data", "first_stage", "train", "rerank") if Path("benchmarks", stage).is_dir()]
    if old:
        folders = " ".join(f"benchmarks/{stage}" for stage in old)
        logger.warning(
            f"stagewise warning: {folders} hold Snakemake benchmark files of an earlier run; they now belong under "
            f"results/benchmarks/, where the efficiency table reads them: mkdir -p results/benchmarks && mv {folders} "
            "results/benchmarks/"
        )
