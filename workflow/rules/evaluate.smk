rule evaluate_first_stage:
    """Per-query metrics of a first-stage ranker on every test set."""
    input:
        runs=lambda wildcards: list(first_stage_runs_by_test_set(wildcards).values()),
        qrels=test_set_qrels,
    output:
        FIRST_STAGE_METRICS,
    log:
        "logs/evaluate/first_stage/{ranker}.log",
    # as soon as its runs exist: the first evaluation of a fresh clone compiles ranx's numba functions (about 30 s on
    # one core), beside the trainings rather than in a gap before a two-thread job such as the ColBERT index
    priority: 10
    conda:
        "../../envs/report.yaml"
    params:
        runs=first_stage_runs_by_test_set,
        datasets=TEST_SET_DATASETS,
        thresholds=RELEVANCE_THRESHOLDS,
        metrics=config["evaluation"]["metrics"],
        # the re-ranking depth (first stage and re-rankers rank the same candidates) or the run's full depth
        depth=first_stage_depth(config),
    script:
        "../scripts/evaluate.py"


rule evaluate_rerank:
    """Per-query metrics of every re-ranking model of one ranker on every test set (one job: evaluation takes
    seconds, job start-up more), and per re-ranked run the tied scores in each query's top 10."""
    input:
        runs=rerank_runs,
        qrels=test_set_qrels,
    output:
        RERANK_METRICS,
        ties="results/metrics/rerank/{ranker}.ties.tsv",
    log:
        "logs/evaluate/rerank/{ranker}.log",
    conda:
        "../../envs/report.yaml"
    params:
        # (reranker, cell, seed) -> test set -> re-ranked run (the inputs, by key)
        runs=rerank_runs_by_model,
        datasets=TEST_SET_DATASETS,
        thresholds=RELEVANCE_THRESHOLDS,
        metrics=config["evaluation"]["metrics"],
        depth=config["rerank"]["depth"],
    script:
        "../scripts/evaluate_rerank.py"


rule evaluate_checkpoints:
    """Per-query metrics of the models' other checkpoints (evaluation.compare_checkpoints), as evaluate_rerank."""
    input:
        runs=checkpoint_runs,
        qrels=test_set_qrels,
    output:
        CHECKPOINT_METRICS,
        ties="results/metrics/rerank/{ranker}.checkpoints.ties.tsv",
    log:
        "logs/evaluate/checkpoints/{ranker}.log",
    conda:
        "../../envs/report.yaml"
    params:
        # (reranker, cell, seed) -> test set -> run re-ranked by the model's other checkpoint
        runs=checkpoint_runs_by_model,
        datasets=TEST_SET_DATASETS,
        thresholds=RELEVANCE_THRESHOLDS,
        metrics=config["evaluation"]["metrics"],
        depth=config["rerank"]["depth"],
    script:
        "../scripts/evaluate_rerank.py"
