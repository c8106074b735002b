import os

from stagewise.logs import to_file
from stagewise.provenance import set_job

to_file(snakemake.log[0])
set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
# the JVM heap within the job's memory (the rest: Python's share of a batch of hits)
os.environ["STAGEWISE_JVM_HEAP_MB"] = str(int(snakemake.resources.mem_mb * 0.6))
from stagewise.first_stage.bm25 import Bm25Settings, retrieve  # noqa: E402

retrieve(
    snakemake.input.index,
    snakemake.params.queries,
    snakemake.output[0],
    Bm25Settings.from_config(snakemake.params.settings),
    threads=snakemake.threads,
)
