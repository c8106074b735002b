from stagewise.data import datasets
from stagewise.data.teacher import simulated_teacher, write_teacher
from stagewise.io import read_run
from stagewise.logs import to_file

to_file(snakemake.log[0])
p = snakemake.params
candidates, permutations = simulated_teacher(
    read_run(snakemake.input.run), datasets.qrels(p.train), datasets.queries(p.train), p.depth, p.noise, p.seed
)
write_teacher(candidates, permutations, snakemake.output.candidates, snakemake.output.permutations)
