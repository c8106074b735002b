from stagewise.data import datasets
from stagewise.data.teacher import simulated_teacher_scores
from stagewise.io import read_run, write_run
from stagewise.logs import to_file

to_file(snakemake.log[0])
p = snakemake.params
scores = simulated_teacher_scores(read_run(snakemake.input.run), datasets.qrels(p.train), p.depth, p.noise, p.seed)
write_run(scores, snakemake.output.run, tag="simulated_teacher")
