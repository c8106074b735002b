import pandas as pd

from stagewise.logs import to_file
from stagewise.provenance import set_job
from stagewise.reporting.claims import check_claims, claims_markdown
from stagewise.reporting.table import write_csv, write_text

to_file(snakemake.log[0])
set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
significance = pd.read_csv(snakemake.input[0], dtype={"system_a": str, "system_b": str})
checked = check_claims(snakemake.params.claims, significance, snakemake.params.cells)
write_csv(checked, snakemake.output.csv, float_format="%.6g")
write_text(claims_markdown(checked), snakemake.output.md)
