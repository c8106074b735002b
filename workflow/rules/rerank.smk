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


rule rerank_checkpoint:
    """Re-score the top-k of one test set's first-stage run with a model's other checkpoint (best or last, the one its
    folder holds in checkpoints/; evaluation.compare_checkpoints)."""
    input:
        unpack(lambda wildcards: doc_store_files(corpus_of(wildcards))),
        model=MODEL,
        run=FIRST_STAGE_RUN,
        queries=lambda wildcards: dataset_files(TEST_SET_DATASETS[wildcards.dataset], corpus=corpus_of(wildcards)),
    output:
        RERANKED_CHECKPOINT_RUN,
    log:
        "logs/rerank/{ranker}/{reranker}/{schedule}/seed{seed}/checkpoints/{checkpoint}/{dataset}.log",
    benchmark:
        "results/benchmarks/rerank/{ranker}/{reranker}/{schedule}/seed{seed}/checkpoints/{checkpoint}/{dataset}.tsv"
    wildcard_constraints:
        dataset=names_of(TEST_SETS),
        checkpoint="best|last",
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
        "../scripts/rerank_checkpoint.py"
