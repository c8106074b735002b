from stagewise.logs import to_file
from stagewise.reporting.significance import compare
from stagewise.reporting.table import read_metrics, write_csv

to_file(snakemake.log[0])
s = snakemake.params.settings
per_query = read_metrics([*snakemake.input.first_stage, *snakemake.input.rerank])
comparisons = compare(per_query, s["test"], s["correction"], s["alpha"], s["permutations"], s["seed"],
                      margins=s["equivalence_margins"], power=s["power"])
write_csv(comparisons, snakemake.output[0], float_format="%.6g")
