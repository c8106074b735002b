# run on the submitting host (the one with the network), not as cluster jobs
localrules:
    prepare_dataset,
    download_checkpoint,


rule prepare_dataset:
    """An ir_datasets id downloaded and its docstore built, once, into ir_datasets' home under resources/."""
    output:
        PREPARED_DATASET,
    log:
        "logs/data/prepare/{ir_dataset}.log",
    wildcard_constraints:
        ir_dataset=names_of(IR_DATASETS),
    conda:
        "../../envs/first_stage.yaml"
    script:
        "../scripts/prepare_dataset.py"


rule download_checkpoint:
    """A hub checkpoint (a reranker's backbone, a ColBERT model) into resources/hub/, for jobs that run offline."""
    output:
        directory(HUB_CHECKPOINT),
    log:
        "logs/data/hub/{hub_id}.log",
    wildcard_constraints:
        hub_id=names_of(HUB_IDS),
    conda:
        "../../envs/first_stage.yaml"
    script:
        "../scripts/download_checkpoint.py"


rule doc_store:
    """The offset index of a local corpus: training groups and re-ranking read passage texts by id through it."""
    input:
        lambda wildcards: corpus_files(wildcards.corpus),
    output:
        directory(DOC_STORE),
    log:
        "logs/data/doc_store/{corpus}.log",
    benchmark:
        "results/benchmarks/data/doc_store/{corpus}.tsv"
    conda:
        "../../envs/first_stage.yaml"
    threads: 1
    resources:
        # estimate at MS MARCO size (8.8M passages, 3 GB): docids and offsets, about 2 GB while sorting; one pass
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/doc_store.py"


rule training_candidates:
    """C's training pools, prepared once: each training query's top-negatives_depth of the training run (by its rank
    column) and its qrels positives, as arrays every C job memory-maps (the 251M-line MS MARCO run is read once)."""
    input:
        run=negatives_run,
        queries=train_query_files,
    output:
        directory(TRAINING_CANDIDATES),
    log:
        "logs/data/training_candidates.log",
    benchmark:
        "results/benchmarks/data/training_candidates.tsv"
    conda:
        "../../envs/first_stage.yaml"
    threads: 1
    resources:
        # estimate at MS MARCO size (502,939 queries x 500 lines, top 200 kept): docid vocabulary and 100M pool
        # entries, about 3 GB; reading 251M lines at the measured 1 s per million lines, about 5 min
        mem_mb=6000,
        runtime=120,
    params:
        train=config["train_queries"],
        depth=config["training"]["C"]["negatives_depth"],
        md5=(config["training"]["C"].get("negatives_run") or {}).get("md5"),
    script:
        "../scripts/training_candidates.py"


# the demo's data and teacher, and the TREC DL folders: rules only when the config has their section, so that
# no rule can write (and delete) files of the same names that a user provides
if "synthetic" in config:

    rule synthetic_dataset:
        """The embedded synthetic collection."""
        output:
            docs=f"{SYNTHETIC_DATASET}/docs.tsv",
            splits=expand(
                f"{SYNTHETIC_DATASET}/{{split}}/{{name}}",
                split=config["synthetic"]["splits"],
                name=["queries.tsv", "qrels.txt"],
            ),
        log:
            "logs/data/synthetic_dataset.log",
        conda:
            "../../envs/first_stage.yaml"
        params:
            spec=config["synthetic"],
        script:
            "../scripts/synthetic_dataset.py"

    rule simulated_teacher:
        """The demo teacher: the training queries' first-stage top-k ranked by true grade plus seeded noise."""
        input:
            run=FIRST_STAGE_RUN.format(ranker=config["synthetic"]["teacher_ranker"], dataset="train"),
            queries=train_query_files,
        output:
            candidates=f"{SYNTHETIC_TEACHER}/train-candidates.jsonl",
            permutations=f"{SYNTHETIC_TEACHER}/train-permutations.json",
        log:
            "logs/data/simulated_teacher.log",
        priority: 10
        conda:
            "../../envs/first_stage.yaml"
        params:
            train=config["train_queries"],
            depth=config["synthetic"]["teacher_depth"],
            noise=config["synthetic"]["teacher_noise"],
            seed=config["synthetic"]["seed"],
        script:
            "../scripts/simulated_teacher.py"

    rule simulated_teacher_scores:
        """The demo teacher's scores: its noisy grades (the draws simulated_teacher ranks by) as a TREC run, for a
        teacher with labels: scores."""
        input:
            run=FIRST_STAGE_RUN.format(ranker=config["synthetic"]["teacher_ranker"], dataset="train"),
            queries=train_query_files,
        output:
            run=f"{SYNTHETIC_TEACHER}/train-scores.run",
        log:
            "logs/data/simulated_teacher_scores.log",
        priority: 10
        conda:
            "../../envs/first_stage.yaml"
        params:
            train=config["train_queries"],
            depth=config["synthetic"]["teacher_depth"],
            noise=config["synthetic"]["teacher_noise"],
            seed=config["synthetic"]["seed"],
        script:
            "../scripts/simulated_teacher_scores.py"


if "trec_dl" in config:

    rule trec_dl_dataset:
        """TREC DL 2019/2020 dataset folders and first-stage runs from the shared files (which are never committed)."""
        input:
            trec_dl_source_files,
        output:
            docs=f"{TREC_DL_DATASET}/docs.tsv",
            sets=expand(
                f"{TREC_DL_DATASET}/{{split}}/{{name}}",
                split=["dl19", "dl20", "dl19-train"],
                name=["queries.tsv", "qrels.txt"],
            ),
            runs=expand(f"{TREC_DL_DATASET}/runs/{{run}}/{{year}}.run", run=list(trec_dl.RUNS), year=trec_dl.SETS),
            summary=f"{TREC_DL_DATASET}/summary.json",
        log:
            "logs/data/trec_dl_dataset.log",
        conda:
            "../../envs/first_stage.yaml"
        params:
            depth=config["trec_dl"]["depth"],
        script:
            "../scripts/trec_dl_dataset.py"
