import os

from stagewise.logs import to_file

to_file(snakemake.log[0])
os.environ["STAGEWISE_JVM_HEAP_MB"] = str(int(snakemake.resources.mem_mb * 0.6))
from stagewise.first_stage.bm25 import index_corpus  # noqa: E402  (after the log is open: pyserini logs at import)

index_corpus(snakemake.params.corpus, snakemake.output[0], threads=snakemake.threads)
