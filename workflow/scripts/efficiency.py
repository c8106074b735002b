from stagewise.logs import to_file
from stagewise.provenance import set_job
from stagewise.reporting.efficiency import (
    cumulative_costs,
    efficiency_markdown,
    efficiency_table,
    in_domain_effectiveness,
    rerank_seconds_per_query,
    stage_agreement,
    stage_costs,
)
from stagewise.reporting.plots import efficiency_plot
from stagewise.reporting.table import read_metrics, write_csv, write_text

to_file(snakemake.log[0])
set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
p = snakemake.params  # the input files by key (common.smk, efficiency_files)
costs = cumulative_costs(stage_costs(p.models, p.train_benchmarks))
per_query = read_metrics(snakemake.input.metrics)
rerank = rerank_seconds_per_query(p.rerank_benchmarks, per_query)
effect = in_domain_effectiveness(per_query, p.metric, p.out_of_domain)
cells = efficiency_table(costs, rerank, effect, p.metric, stage_agreement(p.stage_runs))
write_csv(cells, snakemake.output.csv, float_format="%.6g")
write_text(efficiency_markdown(cells, p.metric), snakemake.output.md)
efficiency_plot(costs, effect, p.metric, snakemake.output.plot)
