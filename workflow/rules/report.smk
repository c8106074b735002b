rule main_table:
    """Mean and standard deviation over seeds per (ranker, reranker, schedule, test set), plus first-stage rows."""
    input:
        first_stage=first_stage_metrics(),
        rerank=rerank_metrics(),
    output:
        report(
            "results/tables/main.csv",
            category="Tables",
            labels={"table": "main", "content": "mean and std over seeds"},
        ),
    log:
        "logs/report/main_table.log",
    script:
        "../scripts/main_table.py"
