from stagewise.logs import to_file

to_file(snakemake.log[0])
from stagewise.data.datasets import queries  # noqa: E402
from stagewise.first_stage.runfile import import_run  # noqa: E402

import_run(snakemake.input.run, snakemake.output[0], queries(snakemake.params.queries), depth=snakemake.params.depth,
           tag=snakemake.wildcards.ranker)
