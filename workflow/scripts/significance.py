from stagewise.logs import to_file
from stagewise.reporting.significance import compare
from stagewise.reporting.table import check_coverage, read_metrics, write_csv

to_file(snakemake.log[0])
s = snakemake.params.settings
per_query = read_metrics([*snakemake.input.first_stage, *snakemake.input.rerank])
g = snakemake.params.grid
check_coverage(per_query, g["test_sets"], g["rankers"], g["reranked_rankers"], g["models"])
comparisons = compare(per_query, s["test"], s["correction"], s["alpha"], s["permutations"], s["seed"],
                      margins=s["equivalence_margins"], power=s["power"])
write_csv(comparisons, snakemake.output[0], float_format="%.6g")
