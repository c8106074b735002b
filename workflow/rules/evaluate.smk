rule evaluate_first_stage:
    """Per-query metrics of a first-stage ranker on every test set."""
    input:
        runs=expand("results/runs/first_stage/{{ranker}}/{dataset}.run", dataset=TEST_SETS),
        qrels=test_set_qrels,
    output:
        "results/metrics/first_stage/{ranker}.tsv",
    log:
        "logs/evaluate/first_stage/{ranker}.log",
    conda:
        "../../envs/report.yaml"
    params:
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
        "results/metrics/rerank/{ranker}.tsv",
        ties="results/metrics/rerank/{ranker}.ties.tsv",
    log:
        "logs/evaluate/rerank/{ranker}.log",
    conda:
        "../../envs/report.yaml"
    params:
        cells=MODELS,
        datasets=TEST_SET_DATASETS,
        thresholds=RELEVANCE_THRESHOLDS,
        metrics=config["evaluation"]["metrics"],
        depth=config["rerank"]["depth"],
    script:
        "../scripts/evaluate_rerank.py"
