from stagewise.config import stage_settings
from stagewise.logs import to_file
from stagewise.training.trainer import train_from_files

to_file(snakemake.log[0])
p, w, config = snakemake.params, snakemake.wildcards, snakemake.config
train_from_files(p.stage, snakemake.input.init, snakemake.output[0], p.work_dir, p.train, p.corpus,
                 stage_settings(config, w.schedule), int(w.seed), candidates=snakemake.input.get("candidates"),
                 doc_store=snakemake.input.get("doc_store"), candidates_source=snakemake.input.get("negatives_run"),
                 teacher=config.get("teacher") if p.stage == "D" else None, threads=snakemake.threads,
                 testing=config.get("testing"), cell=f"{w.reranker}/{w.schedule}/seed{w.seed}")
