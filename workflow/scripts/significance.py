from stagewise.logs import to_file
from stagewise.provenance import set_job
from stagewise.reporting.significance import compare
from stagewise.reporting.table import check_coverage, read_metrics, write_csv
from stagewise.settings import SignificanceSettings

to_file(snakemake.log[0])
set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
per_query = read_metrics([*snakemake.input.first_stage, *snakemake.input.rerank])
g = snakemake.params.grid
check_coverage(per_query, g["test_sets"], g["rankers"], g["reranked_rankers"], g["models"])
comparisons = compare(per_query, SignificanceSettings.from_section(snakemake.params.settings))
write_csv(comparisons, snakemake.output[0], float_format="%.6g")
