from stagewise.devices import hold_gpu
from stagewise.logs import to_file

to_file(snakemake.log[0], stdout=True)  # colbert-ai prints its progress
hold_gpu(snakemake.log[0])  # one free GPU for this job (not under SLURM), before anything initialises CUDA
from stagewise.first_stage.colbert import ColbertSettings, PlaidIndex, index_corpus  # noqa: E402

index_corpus(
    snakemake.params.corpus,
    PlaidIndex(snakemake.output[0], snakemake.params.checkpoint),
    ColbertSettings.from_config(snakemake.params.settings),
    threads=snakemake.threads,
)
