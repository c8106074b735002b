from stagewise.devices import hold_gpu
from stagewise.logs import to_file

to_file(snakemake.log[0], stdout=True)  # colbert-ai prints its progress
hold_gpu(snakemake.log[0])  # one free GPU for this job (not under SLURM), before anything initialises CUDA
from stagewise.first_stage.colbert import ColbertSettings, PlaidIndex, QueryShards, retrieve  # noqa: E402
from stagewise.provenance import set_job  # noqa: E402

set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
retrieve(
    PlaidIndex(snakemake.input.index, snakemake.params.checkpoint),
    snakemake.params.queries,
    snakemake.output[0],
    ColbertSettings.from_config(snakemake.params.settings),
    threads=snakemake.threads,
    shards=QueryShards(snakemake.params.shard_dir),
)
