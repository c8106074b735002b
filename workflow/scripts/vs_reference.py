import pandas as pd

from stagewise.logs import to_file
from stagewise.provenance import set_job
from stagewise.reporting.reference import paired_with_cells, reference_cells
from stagewise.reporting.table import vs_reference, write_csv

to_file(snakemake.log[0])
set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
table = pd.read_csv(snakemake.input.table, dtype={"seed": str})
reference = paired_with_cells(reference_cells(snakemake.params.reference), snakemake.params.cells)
write_csv(vs_reference(table, reference), snakemake.output[0])
