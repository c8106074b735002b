from stagewise.data import datasets
from stagewise.evaluation.metrics import evaluate_cells
from stagewise.logs import to_file

to_file(snakemake.log[0])
p = snakemake.params
# p.runs: (reranker, cell, seed) -> test set -> re-ranked run
cells = [({"ranker": snakemake.wildcards.ranker, "reranker": r, "schedule": sch, "seed": seed},
          [runs[name] for name in p.datasets]) for (r, sch, seed), runs in p.runs.items()]
qrels = {name: datasets.qrels(spec) for name, spec in p.datasets.items()}
evaluate_cells(cells, qrels, snakemake.output[0], p.metrics, dict(p.thresholds), p.depth,
               ties_path=snakemake.output.ties)
