from stagewise.devices import hold_gpu
from stagewise.logs import to_file

to_file(snakemake.log[0])
hold_gpu(snakemake.log[0])  # one free GPU for this job (not under SLURM), before anything initialises CUDA
from stagewise.rerank import rerank_files  # noqa: E402

s, w = snakemake.params.settings, snakemake.wildcards
rerank_files(snakemake.input.model, [snakemake.input.run], [snakemake.params.queries], snakemake.params.corpus,
             snakemake.output, s["depth"], s["batch_size"], s["max_length"], threads=snakemake.threads,
             tag=f"{w.reranker}-{w.schedule}-seed{w.seed}", doc_store=snakemake.input.get("doc_store"),
             head=s["head_precision"])
