rule bm25_index:
    """Lucene index of the corpus, built once."""
    input:
        corpus_files(),
    output:
        directory("resources/indexes/bm25"),
    params:
        corpus=config["corpus"],
    log:
        "logs/first_stage/bm25_index.log",
    benchmark:
        "benchmarks/first_stage/bm25_index.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/bm25_index.py"


rule bm25_retrieve:
    """BM25 top-k (TREC run) for one query set."""
    input:
        index="resources/indexes/bm25",
        queries=query_set_files,
    output:
        "results/runs/first_stage/bm25/{dataset}.run",
    params:
        queries=lambda wildcards: QUERY_SETS[wildcards.dataset],
        settings=config["rankers"].get("bm25", {}),
    log:
        "logs/first_stage/bm25_retrieve/{dataset}.log",
    benchmark:
        "benchmarks/first_stage/bm25_retrieve/{dataset}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/bm25_retrieve.py"
