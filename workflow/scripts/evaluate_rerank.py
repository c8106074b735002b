from stagewise.data import datasets
from stagewise.evaluation.metrics import evaluate_cells
from stagewise.logs import to_file

to_file(snakemake.log[0])
p = snakemake.params
n = len(p.datasets)
cells = [({"ranker": snakemake.wildcards.ranker, "reranker": r, "schedule": sch, "seed": seed},
          snakemake.input.runs[i * n:(i + 1) * n]) for i, (r, sch, seed) in enumerate(p.cells)]
qrels = {name: datasets.qrels(spec) for name, spec in p.datasets.items()}
evaluate_cells(cells, qrels, snakemake.output[0], p.metrics, dict(p.thresholds), p.depth,
               ties_path=snakemake.output.ties)
