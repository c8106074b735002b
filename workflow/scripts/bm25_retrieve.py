import os

from stagewise.logs import to_file

to_file(snakemake.log[0])
# the JVM heap within the job's memory (the rest: Python's share of a batch of hits)
os.environ["STAGEWISE_JVM_HEAP_MB"] = str(int(snakemake.resources.mem_mb * 0.6))
from stagewise.first_stage.bm25 import retrieve  # noqa: E402

s = snakemake.params.settings
retrieve(snakemake.input.index, snakemake.params.queries, snakemake.output[0], s["k1"], s["b"], s["depth"],
         threads=snakemake.threads)
