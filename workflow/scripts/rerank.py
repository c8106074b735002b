from stagewise.logs import to_file
from stagewise.rerank import rerank_files

to_file(snakemake.log[0])
s = snakemake.params.settings
rerank_files(snakemake.input.model, snakemake.input.runs, snakemake.params.datasets, snakemake.params.corpus,
             snakemake.output, s["depth"], s["batch_size"], s["max_length"], threads=snakemake.threads,
             tag=f"{snakemake.wildcards.reranker}-{snakemake.wildcards.schedule}-seed{snakemake.wildcards.seed}")
