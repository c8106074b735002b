rule rerank:
    """Re-score the top-k of every test set's first-stage run with one model."""
    input:
        model="results/models/{reranker}/{schedule}/seed{seed}",
        runs=expand("results/runs/first_stage/{{ranker}}/{dataset}.run", dataset=TEST_SETS),
        queries=[f for t in TEST_SETS for f in dataset_files(config["test_sets"][t])],
    output:
        expand("results/runs/rerank/{{ranker}}/{{reranker}}/{{schedule}}/seed{{seed}}/{dataset}.run", dataset=TEST_SETS),
    params:
        datasets=[config["test_sets"][t] for t in TEST_SETS],
        corpus=config["corpus"],
        settings=config["rerank"],
    log:
        "logs/rerank/{ranker}/{reranker}/{schedule}/seed{seed}.log",
    benchmark:
        "benchmarks/rerank/{ranker}/{reranker}/{schedule}/seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    script:
        "../scripts/rerank.py"
