from stagewise.data import datasets
from stagewise.evaluation.metrics import Judgments, evaluate_runs
from stagewise.logs import to_file

to_file(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
keys = {
    "ranker": w.ranker,
    "reranker": w.get("reranker", "-"),
    "schedule": w.get("schedule", "-"),
    "seed": w.get("seed", "-"),
}
judgments = {name: Judgments(datasets.qrels(spec), p.thresholds[name]) for name, spec in p.datasets.items()}
evaluate_runs(p.runs, judgments, keys, p.metrics, snakemake.output[0], p.depth)  # p.runs: test set -> run
