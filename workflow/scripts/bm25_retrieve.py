from stagewise.logs import to_file

to_file(snakemake.log[0])
from stagewise.first_stage.bm25 import retrieve  # noqa: E402

s = snakemake.params.settings
retrieve(snakemake.input.index, snakemake.params.queries, snakemake.output[0], s["k1"], s["b"], s["depth"],
         threads=snakemake.threads)
