from stagewise.devices import hold_gpu
from stagewise.logs import to_file

to_file(snakemake.log[0])
hold_gpu(snakemake.log[0])  # one free GPU for this job (not under SLURM), before anything initialises CUDA
from stagewise.config import negatives_run_path, stage_settings  # noqa: E402
from stagewise.training.trainer import train_from_files  # noqa: E402

p, w, config = snakemake.params, snakemake.wildcards, snakemake.config
# the run C's candidates store was built from, checked to be that file (read from the config, not a rule input: an
# input added to the rule would retrain every finished grid under the input rerun trigger)
source = negatives_run_path(config) if p.stage == "C" else None
train_from_files(p.stage, snakemake.input.init, snakemake.output[0], p.work_dir, p.train, p.corpus,
                 stage_settings(config, w.schedule), int(w.seed), candidates=snakemake.input.get("candidates"),
                 doc_store=snakemake.input.get("doc_store"), candidates_source=source,
                 teacher=config.get("teacher") if p.stage == "D" else None, threads=snakemake.threads,
                 testing=config.get("testing"), cell=f"{w.reranker}/{w.schedule}/seed{w.seed}")
