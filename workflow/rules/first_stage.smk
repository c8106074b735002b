# First-stage rankers. Every kind writes FIRST_STAGE_RUN (results/runs/first_stage/{ranker}/{dataset}.run); the
# ranker wildcard of each retrieval rule matches only the rankers of its kind.


rule bm25_index:
    """Lucene index of a corpus (the grid's, or an out-of-domain test set's), built once, shared by every bm25 ranker."""
    input:
        lambda wildcards: corpus_files(wildcards.corpus),
    output:
        directory(LUCENE_INDEX),
    log:
        "logs/first_stage/bm25_index/{corpus}.log",
    benchmark:
        "results/benchmarks/first_stage/bm25_index/{corpus}.tsv"
    priority: 10
    conda:
        "../../envs/first_stage.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        corpus=lambda wildcards: CORPORA[wildcards.corpus],
    script:
        "../scripts/bm25_index.py"


rule bm25_retrieve:
    """BM25 top-k (TREC run) for one query set."""
    input:
        index=lambda wildcards: LUCENE_INDEX.format(corpus=corpus_of(wildcards)),
        queries=query_set_files,
    output:
        FIRST_STAGE_RUN,
    log:
        "logs/first_stage/{ranker}/{dataset}.log",
    benchmark:
        "results/benchmarks/first_stage/{ranker}/{dataset}.tsv"
    wildcard_constraints:
        ranker=names_of(RANKERS_OF_KIND["bm25"]),
    priority: 10
    conda:
        "../../envs/first_stage.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        queries=lambda wildcards: QUERY_SETS[wildcards.dataset],
        settings=lambda wildcards: config["rankers"][wildcards.ranker],
    script:
        "../scripts/bm25_retrieve.py"


rule colbert_encoder:
    """Freeze a small ColBERT checkpoint once (a local BERT encoder + a seeded projection), for rankers with `encoder`."""
    output:
        directory(COLBERT_ENCODER),
    log:
        "logs/first_stage/{ranker}/encoder.log",
    wildcard_constraints:
        ranker=names_of([r for r in RANKERS_OF_KIND["colbert"] if "encoder" in config["rankers"][r]]),
    conda:
        "../../envs/colbert.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        encoder=lambda wildcards: config["rankers"][wildcards.ranker]["encoder"],
        settings=lambda wildcards: config["rankers"][wildcards.ranker],
    script:
        "../scripts/colbert_encoder.py"


rule colbert_index:
    """PLAID index of a corpus for one ColBERT ranker (checkpoint + settings); reused while neither changes."""
    input:
        corpus=lambda wildcards: corpus_files(wildcards.corpus),
        checkpoint=colbert_checkpoint_files,
    output:
        directory(COLBERT_INDEX),
    log:
        "logs/first_stage/{ranker}/index-{corpus}.log",
    benchmark:
        "results/benchmarks/first_stage/{ranker}/index-{corpus}.tsv"
    wildcard_constraints:
        ranker=names_of(RANKERS_OF_KIND["colbert"]),
    conda:
        "../../envs/colbert.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=32000,
        runtime=600,
    params:
        corpus=lambda wildcards: CORPORA[wildcards.corpus],
        checkpoint=lambda wildcards: colbert_checkpoint(wildcards.ranker),
        settings=lambda wildcards: config["rankers"][wildcards.ranker],
    script:
        "../scripts/colbert_index.py"


rule colbert_retrieve:
    """ColBERT (PLAID) top-k (TREC run) for one query set."""
    input:
        index=lambda wildcards: COLBERT_INDEX.format(corpus=corpus_of(wildcards), ranker=wildcards.ranker),
        checkpoint=colbert_checkpoint_files,
        queries=query_set_files,
    output:
        FIRST_STAGE_RUN,
    log:
        "logs/first_stage/{ranker}/{dataset}.log",
    benchmark:
        "results/benchmarks/first_stage/{ranker}/{dataset}.tsv"
    wildcard_constraints:
        ranker=names_of(RANKERS_OF_KIND["colbert"]),
    conda:
        "../../envs/colbert.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=120,
    params:
        queries=lambda wildcards: QUERY_SETS[wildcards.dataset],
        checkpoint=lambda wildcards: colbert_checkpoint(wildcards.ranker),
        settings=lambda wildcards: config["rankers"][wildcards.ranker],
        # finished query shards: a killed search resumes with the missing ones
        shard_dir="resources/checkpoints/colbert/{ranker}/{dataset}",
    script:
        "../scripts/colbert_retrieve.py"


rule import_run:
    """An existing TREC run file as a ranker: validated (file and line on error), normalized, cut at depth."""
    input:
        run=imported_run,
        queries=query_set_files,
    output:
        FIRST_STAGE_RUN,
    log:
        "logs/first_stage/{ranker}/{dataset}.log",
    wildcard_constraints:
        ranker=names_of(RANKERS_OF_KIND["run"]),
    conda:
        "../../envs/first_stage.yaml"
    params:
        queries=lambda wildcards: QUERY_SETS[wildcards.dataset],
        depth=lambda wildcards: config["rankers"][wildcards.ranker]["depth"],
    script:
        "../scripts/import_run.py"
