from stagewise.data import datasets
from stagewise.data.candidates import build_candidates
from stagewise.data.teacher import check_md5
from stagewise.logs import to_file

to_file(snakemake.log[0])
p = snakemake.params
check_md5(snakemake.input.run, p.md5)  # training.C.negatives_run.md5: a different file stops here with both sums
build_candidates(
    snakemake.input.run, datasets.qrels(p.train), snakemake.output[0], p.depth, queries=set(datasets.queries(p.train))
)
