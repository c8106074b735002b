from stagewise.data import datasets
from stagewise.evaluation.metrics import evaluate_runs
from stagewise.logs import to_file

to_file(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
keys = {"ranker": w.ranker, "reranker": w.get("reranker", "-"), "schedule": w.get("schedule", "-"),
        "seed": w.get("seed", "-")}
qrels = {name: datasets.qrels(spec) for name, spec in p.datasets.items()}
evaluate_runs(snakemake.input.runs, qrels, snakemake.output[0], keys, p.metrics, dict(p.thresholds), p.depth)
