import pandas as pd

from stagewise.logs import to_file
from stagewise.provenance import set_job
from stagewise.reporting.table import (
    check_coverage,
    latex_table,
    main_table,
    markdown_table,
    read_metrics,
    write_csv,
    write_text,
)

to_file(snakemake.log[0])
set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
r = snakemake.params.report
per_query = read_metrics([*snakemake.input.first_stage, *snakemake.input.rerank])
g = snakemake.params.grid
check_coverage(per_query, g["test_sets"], g["rankers"], g["reranked_rankers"], g["models"])
significance = pd.read_csv(snakemake.input.significance, dtype={"system_a": str, "system_b": str})
table = main_table(
    per_query, significance, snakemake.params.settings["confidence"], out_of_domain=snakemake.params.out_of_domain
)
write_csv(table, snakemake.output.csv)
write_text(markdown_table(table, r["metrics"], r["digits"], significance), snakemake.output.md)
write_text(latex_table(table, r["metrics"], r["digits"], significance), snakemake.output.tex)
