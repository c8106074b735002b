from stagewise.data import datasets
from stagewise.evaluation.metrics import evaluate_runs
from stagewise.logs import to_file

to_file(snakemake.log[0])
w, s = snakemake.wildcards, snakemake.params.settings
keys = {"ranker": w.ranker, "reranker": w.get("reranker", "-"), "schedule": w.get("schedule", "-"),
        "seed": w.get("seed", "-")}
qrels = {name: datasets.qrels(spec) for name, spec in snakemake.params.datasets.items()}
evaluate_runs(snakemake.input.runs, qrels, snakemake.output[0], keys, s["metrics"], s["relevance_threshold"],
              snakemake.params.depth)
