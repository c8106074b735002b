from stagewise.logs import to_file
from stagewise.training.trainer import train_from_files

to_file(snakemake.log[0])
p, w = snakemake.params, snakemake.wildcards
train_from_files(p.stage, snakemake.input.init, snakemake.output[0], p.work_dir, p.train, p.corpus, dict(p.hparams),
                 int(w.seed), run_path=snakemake.input.get("run"), teacher=p.teacher, threads=snakemake.threads,
                 testing=snakemake.config.get("testing"), cell=f"{w.reranker}/{w.schedule}/seed{w.seed}")
