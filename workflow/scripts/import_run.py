from stagewise.logs import to_file
from stagewise.provenance import set_job

to_file(snakemake.log[0])
set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
from stagewise.data.datasets import queries  # noqa: E402
from stagewise.first_stage.runfile import import_run  # noqa: E402

import_run(
    snakemake.input.run,
    snakemake.output[0],
    queries(snakemake.params.queries),
    depth=snakemake.params.depth,
    tag=snakemake.wildcards.ranker,
)
