rule rerank:
    """Re-score the top-k of one test set's first-stage runs, every reranked ranker's, with one model: one job per
    (model, test set), so that the job's start-up (imports, the model, the passages' texts) is paid once for all
    rankers; a test set added or changed reruns its own jobs only."""
    input:
        unpack(lambda wildcards: doc_store_files(corpus_of(wildcards))),
        model=MODEL,
        runs=reranked_first_stage_runs,
        queries=lambda wildcards: dataset_files(TEST_SET_DATASETS[wildcards.dataset], corpus=corpus_of(wildcards)),
    output:
        expand(RERANKED_RUN, ranker=RERANKED_RANKERS, allow_missing=True),
    log:
        "logs/rerank/{reranker}/{schedule}/seed{seed}/{dataset}.log",
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
        rankers=RERANKED_RANKERS,  # the ranker of each run (its provenance)
        queries=lambda wildcards: TEST_SET_DATASETS[wildcards.dataset],
        corpus=lambda wildcards: CORPORA[corpus_of(wildcards)],
        settings=config["rerank"],
    script:
        "../scripts/rerank.py"


rule rerank_checkpoint:
    """Re-score the top-k of one test set's first-stage runs (every reranked ranker's, as rule rerank) with a model's
    other checkpoint (best or last, the one its folder holds in checkpoints/; evaluation.compare_checkpoints)."""
    input:
        unpack(lambda wildcards: doc_store_files(corpus_of(wildcards))),
        model=MODEL,
        runs=reranked_first_stage_runs,
        queries=lambda wildcards: dataset_files(TEST_SET_DATASETS[wildcards.dataset], corpus=corpus_of(wildcards)),
    output:
        expand(RERANKED_CHECKPOINT_RUN, ranker=RERANKED_RANKERS, allow_missing=True),
    log:
        "logs/rerank/{reranker}/{schedule}/seed{seed}/checkpoints/{checkpoint}/{dataset}.log",
    benchmark:
        "results/benchmarks/rerank/{reranker}/{schedule}/seed{seed}/checkpoints/{checkpoint}/{dataset}.tsv"
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
        rankers=RERANKED_RANKERS,  # the ranker of each run (its provenance)
        # the model's other checkpoint (best or last), as a folder of its own
        model=lambda wildcards, input: f"{input.model}/{locations.OTHER_CHECKPOINTS}/{wildcards.checkpoint}",
        queries=lambda wildcards: TEST_SET_DATASETS[wildcards.dataset],
        corpus=lambda wildcards: CORPORA[corpus_of(wildcards)],
        settings=config["rerank"],
    script:
        "../scripts/rerank.py"
