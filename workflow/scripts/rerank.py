from stagewise.devices import hold_gpu
from stagewise.logs import to_file

to_file(snakemake.log[0])
hold_gpu(snakemake.log[0])  # one free GPU for this job (not under SLURM), before anything initialises CUDA
from stagewise.data.texts import Corpus  # noqa: E402
from stagewise.provenance import set_job  # noqa: E402
from stagewise.rerank import RerankJob, rerank_files  # noqa: E402
from stagewise.settings import RerankSettings  # noqa: E402

set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
p, w = snakemake.params, snakemake.wildcards
# rule rerank_checkpoint: the model's other checkpoint, params.model (checkpoints/best or checkpoints/last)
checkpoint = getattr(w, "checkpoint", None)
rerank_files(
    getattr(p, "model", snakemake.input.model),
    # a job per reranked ranker's run of the test set (p.rankers), in the order of the outputs
    [
        RerankJob(run, p.queries, out, ranker)
        for run, out, ranker in zip(snakemake.input.runs, snakemake.output, p.rankers, strict=True)
    ],
    Corpus(p.corpus, snakemake.input.get("doc_store")),
    RerankSettings.from_section(p.settings),
    snakemake.threads,
    tag=f"{w.reranker}-{w.schedule}-seed{w.seed}" + (f"-{checkpoint}" if checkpoint else ""),
)
