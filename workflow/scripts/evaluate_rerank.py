from stagewise.data import datasets
from stagewise.evaluation.metrics import Judgments, evaluate_cells
from stagewise.logs import to_file

to_file(snakemake.log[0])
p = snakemake.params
# p.runs: (reranker, cell, seed) -> test set -> re-ranked run
cells = [
    ({"ranker": snakemake.wildcards.ranker, "reranker": r, "schedule": sch, "seed": seed}, runs)
    for (r, sch, seed), runs in p.runs.items()
]
judgments = {name: Judgments(datasets.qrels(spec), p.thresholds[name]) for name, spec in p.datasets.items()}
evaluate_cells(cells, judgments, p.metrics, snakemake.output[0], p.depth, ties_path=snakemake.output.ties)
