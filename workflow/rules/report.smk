rule significance:
    """Paired tests between schedules and against the first stage, per (ranker, reranker, test set, metric)."""
    input:
        first_stage=first_stage_metrics(),
        rerank=rerank_metrics(),
    output:
        report(
            SIGNIFICANCE_TABLE,
            category="Tables",
            labels={"table": "significance", "content": "every paired test, raw and corrected p-values"},
        ),
    log:
        "logs/report/significance.log",
    conda:
        "../../envs/report.yaml"
    params:
        settings=config["significance"],
        grid=GRID_EXPECTED,
    script:
        "../scripts/significance.py"


rule main_table:
    """Seed statistics with significance markers: tidy CSV, and the paper's layout in Markdown and LaTeX."""
    input:
        first_stage=first_stage_metrics(),
        rerank=rerank_metrics(),
        significance=SIGNIFICANCE_TABLE,
    output:
        csv=report(
            MAIN_TABLE,
            category="Tables",
            labels={"table": "main", "content": "mean, std, CI over seeds; significance markers"},
        ),
        md=report(
            MAIN_TABLE_MARKDOWN,
            category="Tables",
            labels={"table": "main (paper layout)", "content": "Markdown"},
        ),
        tex=report(
            MAIN_TABLE_LATEX,
            category="Tables",
            labels={"table": "main (paper layout)", "content": "LaTeX"},
        ),
    log:
        "logs/report/main_table.log",
    conda:
        "../../envs/report.yaml"
    params:
        settings=config["significance"],
        grid=GRID_EXPECTED,
        report=config["report"],
        out_of_domain=OUT_OF_DOMAIN,
    script:
        "../scripts/main_table.py"


rule plots:
    """Per test set: the report metric of every reranker and schedule, each seed shown."""
    input:
        first_stage=first_stage_metrics(),
        rerank=rerank_metrics(),
    output:
        report(
            SCHEDULE_PLOT,
            caption="../report/schedules.rst",
            category="Plots",
            subcategory="{dataset}",
            labels={"test set": "{dataset}", "figure": "schedules and seeds"},
        ),
    log:
        "logs/report/plots/{dataset}.log",
    wildcard_constraints:
        dataset=names_of(TEST_SETS),
    conda:
        "../../envs/report.yaml"
    params:
        metric=config["report"]["metrics"][0],
    script:
        "../scripts/schedule_plot.py"


rule seed_spread:
    """Standard deviation over seeds of every trained cell."""
    input:
        MAIN_TABLE,
    output:
        report(
            SEED_SPREAD_PLOT,
            caption="../report/seed_spread.rst",
            category="Plots",
            subcategory="seeds",
            labels={"test set": "all", "figure": "seed spread"},
        ),
    log:
        "logs/report/plots/seed_spread.log",
    conda:
        "../../envs/report.yaml"
    params:
        metric=config["report"]["metrics"][0],
    script:
        "../scripts/seed_spread_plot.py"


rule vs_reference:
    """Our numbers next to reference numbers given in the config (for example a paper's table)."""
    input:
        table=MAIN_TABLE,
        file=reference_file,
    output:
        report(
            VS_REFERENCE_TABLE,
            category="Tables",
            labels={"table": "vs reference", "content": config.get("reference", {}).get("name", "reference")},
        ),
    log:
        "logs/report/vs_reference.log",
    conda:
        "../../envs/report.yaml"
    params:
        reference=config.get("reference", {}),
        cells=CELLS,
    script:
        "../scripts/vs_reference.py"


rule claims:
    """The config's claims about the grid, each checked per ranker, reranker and test set: holds, fails, inconclusive."""
    input:
        SIGNIFICANCE_TABLE,
    output:
        csv=report(
            CLAIMS_TABLE,
            category="Tables",
            labels={"table": "claims", "content": "holds / fails / inconclusive per cell"},
        ),
        md=CLAIMS_TABLE_MARKDOWN,
    log:
        "logs/report/claims.log",
    conda:
        "../../envs/report.yaml"
    params:
        claims=config["claims"],
        cells=CELLS,
    script:
        "../scripts/claims.py"


rule model_cards:
    """Each model's card (the README.md its training wrote) with its measured effectiveness, one file per model."""
    input:
        models=model_targets(),
        rerank=rerank_metrics(),
        # with evaluation.compare_checkpoints: the other checkpoints' metrics
        checkpoints=expand(CHECKPOINT_METRICS, ranker=RERANKED_RANKERS) if COMPARED_CHECKPOINTS else [],
    output:
        directory(MODEL_CARDS),
    log:
        "logs/report/model_cards.log",
    conda:
        "../../envs/report.yaml"
    params:
        # (reranker, cell, seed) -> model folder (the inputs, by key)
        models=model_folders(),
    script:
        "../scripts/model_cards.py"


rule efficiency:
    """What each cell cost: training time and GPU-hours (all stages), steps, pairs, tokens, teacher rankings,
    re-ranking time per query; and a plot of effectiveness against training cost."""
    input:
        unpack(efficiency_inputs),
    output:
        csv=report(
            EFFICIENCY_TABLE,
            category="Tables",
            labels={"table": "efficiency", "content": "cost per cell, means over seeds"},
        ),
        md=EFFICIENCY_TABLE_MARKDOWN,
        plot=report(
            EFFICIENCY_PLOT,
            caption="../report/efficiency.rst",
            category="Plots",
            subcategory="cost",
            labels={"test set": "in-domain mean", "figure": "effectiveness against training cost"},
        ),
    log:
        "logs/report/efficiency.log",
    conda:
        "../../envs/report.yaml"
    params:
        # the inputs, by key (efficiency_files)
        models=EFFICIENCY_FILES["models"],
        train_benchmarks=EFFICIENCY_FILES["train_benchmarks"],
        rerank_benchmarks=EFFICIENCY_FILES["rerank_benchmarks"],
        stage_runs=EFFICIENCY_FILES["stage_runs"],
        metric=config["report"]["metrics"][0],
        out_of_domain=OUT_OF_DOMAIN,
    script:
        "../scripts/efficiency.py"


rule checkpoints_table:
    """Best against last checkpoint of every model with held-out queries, on the test sets (compare_checkpoints)."""
    input:
        selected=rerank_metrics(),
        other=expand(CHECKPOINT_METRICS, ranker=RERANKED_RANKERS),
        models=[MODEL.format(reranker=r, schedule=s, seed=seed) for r, s, seed in COMPARED_CHECKPOINTS],
    output:
        csv=report(
            CHECKPOINTS_TABLE,
            category="Tables",
            labels={"table": "checkpoints", "content": "best - last checkpoint, seed means"},
        ),
        md=report(
            CHECKPOINTS_TABLE_MARKDOWN,
            category="Tables",
            labels={"table": "checkpoints", "content": "Markdown"},
        ),
    log:
        "logs/report/checkpoints_table.log",
    conda:
        "../../envs/report.yaml"
    params:
        models={key: MODEL.format(reranker=key[0], schedule=key[1], seed=key[2]) for key in COMPARED_CHECKPOINTS},
        digits=config["report"]["digits"],
    script:
        "../scripts/checkpoints_table.py"
