from stagewise.logs import to_file
from stagewise.reporting.plots import schedule_plot
from stagewise.reporting.table import read_metrics

to_file(snakemake.log[0])
per_query = read_metrics([*snakemake.input.first_stage, *snakemake.input.rerank])
schedule_plot(per_query, snakemake.wildcards.dataset, snakemake.params.metric, snakemake.output[0])
