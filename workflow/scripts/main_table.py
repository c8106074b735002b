from stagewise.logs import to_file
from stagewise.reporting.table import write_main_table

to_file(snakemake.log[0])
write_main_table([*snakemake.input.first_stage, *snakemake.input.rerank], snakemake.output[0])
