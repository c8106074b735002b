from stagewise.logs import to_file
from stagewise.provenance import set_job
from stagewise.reporting.checkpoints import checkpoints_markdown, checkpoints_table
from stagewise.reporting.table import read_metrics, write_csv, write_text

to_file(snakemake.log[0])
set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
p = snakemake.params  # p.models: (reranker, cell, seed) -> model folder
table = checkpoints_table(read_metrics(snakemake.input.selected), read_metrics(snakemake.input.other), p.models)
write_csv(table, snakemake.output.csv, float_format="%.6g")
write_text(checkpoints_markdown(table, p.digits), snakemake.output.md)
