import pandas as pd

from stagewise.logs import to_file
from stagewise.reporting.table import vs_reference, write_csv

to_file(snakemake.log[0])
write_csv(vs_reference(pd.read_csv(snakemake.input[0], dtype={"seed": str}), snakemake.params.cells), snakemake.output[0])
