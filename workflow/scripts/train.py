from stagewise.devices import hold_gpu
from stagewise.logs import to_file

to_file(snakemake.log[0])
hold_gpu(snakemake.log[0])  # one free GPU for this job (not under SLURM), before anything initialises CUDA
from stagewise.config import negatives_run_path  # noqa: E402
from stagewise.provenance import set_job  # noqa: E402
from stagewise.settings import cell_training  # noqa: E402
from stagewise.training.trainer import StagePaths, TrainingFiles, train_from_files  # noqa: E402

set_job(snakemake.config, snakemake.rule, snakemake.wildcards)  # what the provenance records of its outputs name
p, w, config = snakemake.params, snakemake.wildcards, snakemake.config
training = cell_training(config, w.schedule)
# the run C's candidates store was built from, checked to be that file (read from the config, not a rule input: an
# input added to the rule would retrain every finished grid under the input rerun trigger)
files = TrainingFiles(
    p.train,
    p.corpus,
    candidates=snakemake.input.get("candidates"),
    candidates_source=negatives_run_path(config) if p.stage == "C" else None,
    doc_store=snakemake.input.get("doc_store"),
    teacher=training.teacher,
)
paths = StagePaths(snakemake.input.init, snakemake.output[0], p.work_dir)
train_from_files(training.stage, files, paths, int(w.seed), snakemake.threads)
