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
i, p = snakemake.input, snakemake.params
# efficiency_inputs() lists models, benchmarks and keys in the same orders
keys = [tuple(k) for k in p.cost_cells]
costs = cumulative_costs(stage_costs(dict(zip(keys, i.models, strict=True)), dict(zip(keys, i.train, strict=True))))
per_query = read_metrics(i.metrics)
rerank = rerank_seconds_per_query(dict(zip(map(tuple, p.rerank_keys), i.rerank, strict=True)), per_query)
effect = in_domain_effectiveness(per_query, p.metric, p.out_of_domain)
agreement = stage_agreement([tuple(k) for k in p.agreement_keys], i.stage2_runs, i.stage1_runs)
cells = efficiency_table(costs, rerank, effect, p.metric, agreement)
write_csv(cells, snakemake.output.csv, float_format="%.6g")
write_text(efficiency_markdown(cells, p.metric), snakemake.output.md)
efficiency_plot(costs, effect, p.metric, snakemake.output.plot)
