from stagewise.devices import hold_gpu
from stagewise.logs import to_file

to_file(snakemake.log[0], stdout=True)  # colbert-ai prints its progress
hold_gpu(snakemake.log[0])  # one free GPU for this job (not under SLURM), before anything initialises CUDA
from stagewise.first_stage.colbert import INDEX_SETTINGS, index_corpus  # noqa: E402

s = snakemake.params.settings
index_corpus(snakemake.params.corpus, snakemake.params.checkpoint, snakemake.output[0],
             **{k: s[k] for k in INDEX_SETTINGS}, threads=snakemake.threads)
