# First-stage rankers. Every kind writes results/runs/first_stage/{ranker}/{dataset}.run; the ranker
# wildcard of each retrieval rule matches only the rankers of its kind.


rule bm25_index:
    """Lucene index of the corpus, built once and shared by every bm25 ranker."""
    input:
        corpus_files(),
    output:
        directory("resources/indexes/lucene"),
    priority: 10
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
        index="resources/indexes/lucene",
        queries=query_set_files,
    output:
        "results/runs/first_stage/{ranker}/{dataset}.run",
    wildcard_constraints:
        ranker=names_of(RANKERS_OF_KIND["bm25"]),
    priority: 10
    params:
        queries=lambda wildcards: QUERY_SETS[wildcards.dataset],
        settings=lambda wildcards: config["rankers"][wildcards.ranker],
    log:
        "logs/first_stage/{ranker}/{dataset}.log",
    benchmark:
        "benchmarks/first_stage/{ranker}/{dataset}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/bm25_retrieve.py"


rule colbert_encoder:
    """Freeze a small ColBERT checkpoint once (a local BERT encoder + a seeded projection), for rankers with `encoder`."""
    output:
        directory("resources/encoders/{ranker}"),
    wildcard_constraints:
        ranker=names_of([r for r in RANKERS_OF_KIND["colbert"] if "encoder" in config["rankers"][r]]),
    params:
        encoder=lambda wildcards: config["rankers"][wildcards.ranker]["encoder"],
        settings=lambda wildcards: config["rankers"][wildcards.ranker],
    log:
        "logs/first_stage/{ranker}/encoder.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/colbert_encoder.py"


rule colbert_index:
    """PLAID index of the corpus for one ColBERT ranker (checkpoint + settings); reused while neither changes."""
    input:
        corpus=corpus_files(),
        checkpoint=colbert_checkpoint_files,
    output:
        directory("resources/indexes/colbert/{ranker}"),
    wildcard_constraints:
        ranker=names_of(RANKERS_OF_KIND["colbert"]),
    params:
        corpus=config["corpus"],
        checkpoint=lambda wildcards: colbert_checkpoint(wildcards.ranker),
        settings=lambda wildcards: config["rankers"][wildcards.ranker],
    log:
        "logs/first_stage/{ranker}/index.log",
    benchmark:
        "benchmarks/first_stage/{ranker}/index.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=32000,
        runtime=600,
    script:
        "../scripts/colbert_index.py"


rule colbert_retrieve:
    """ColBERT (PLAID) top-k (TREC run) for one query set."""
    input:
        index="resources/indexes/colbert/{ranker}",
        checkpoint=colbert_checkpoint_files,
        queries=query_set_files,
    output:
        "results/runs/first_stage/{ranker}/{dataset}.run",
    wildcard_constraints:
        ranker=names_of(RANKERS_OF_KIND["colbert"]),
    params:
        queries=lambda wildcards: QUERY_SETS[wildcards.dataset],
        checkpoint=lambda wildcards: colbert_checkpoint(wildcards.ranker),
        settings=lambda wildcards: config["rankers"][wildcards.ranker],
        # finished query shards: a killed search resumes with the missing ones
        shard_dir="resources/checkpoints/colbert/{ranker}/{dataset}",
    log:
        "logs/first_stage/{ranker}/{dataset}.log",
    benchmark:
        "benchmarks/first_stage/{ranker}/{dataset}.tsv"
    threads: 1
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=120,
    script:
        "../scripts/colbert_retrieve.py"


rule import_run:
    """An existing TREC run file as a ranker: validated (file and line on error), normalized, cut at depth."""
    input:
        run=lambda wildcards: config["rankers"][wildcards.ranker]["runs"][wildcards.dataset],
        queries=query_set_files,
    output:
        "results/runs/first_stage/{ranker}/{dataset}.run",
    wildcard_constraints:
        ranker=names_of(RANKERS_OF_KIND["run"]),
    params:
        queries=lambda wildcards: QUERY_SETS[wildcards.dataset],
        depth=lambda wildcards: config["rankers"][wildcards.ranker]["depth"],
    log:
        "logs/first_stage/{ranker}/{dataset}.log",
    script:
        "../scripts/import_run.py"
