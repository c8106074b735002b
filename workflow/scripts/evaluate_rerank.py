from stagewise.data import datasets
from stagewise.evaluation.metrics import Judgments, evaluate_cells
from stagewise.logs import to_file

to_file(snakemake.log[0])
p = snakemake.params
n = len(p.datasets)
cells = [({"ranker": snakemake.wildcards.ranker, "reranker": r, "schedule": sch, "seed": seed},
          dict(zip(p.datasets, snakemake.input.runs[i * n:(i + 1) * n], strict=True)))
         for i, (r, sch, seed) in enumerate(p.cells)]
judgments = {name: Judgments(datasets.qrels(spec), p.thresholds[name]) for name, spec in p.datasets.items()}
evaluate_cells(cells, judgments, p.metrics, snakemake.output[0], p.depth, ties_path=snakemake.output.ties)
