from stagewise.data import datasets
from stagewise.data.candidates import build_candidates
from stagewise.logs import to_file

to_file(snakemake.log[0])
p = snakemake.params
build_candidates(snakemake.input.run, datasets.qrels(p.train), snakemake.output[0], p.depth,
                 queries=set(datasets.queries(p.train)))
