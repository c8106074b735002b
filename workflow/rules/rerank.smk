rule rerank:
    """Re-score the top-k of one test set's first-stage run with one model."""
    input:
        unpack(lambda wildcards: doc_store_files(corpus_of(wildcards))),
        model=MODEL,
        run=FIRST_STAGE_RUN,
        queries=lambda wildcards: dataset_files(TEST_SET_DATASETS[wildcards.dataset], corpus=corpus_of(wildcards)),
    output:
        RERANKED_RUN,
    log:
        "logs/rerank/{ranker}/{reranker}/{schedule}/seed{seed}/{dataset}.log",
    benchmark:
        RERANK_BENCHMARK
    wildcard_constraints:
        dataset=names_of(TEST_SETS),
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    params:
        queries=lambda wildcards: TEST_SET_DATASETS[wildcards.dataset],
        corpus=lambda wildcards: CORPORA[corpus_of(wildcards)],
        settings=config["rerank"],
    script:
        "../scripts/rerank.py"
