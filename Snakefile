# stagewise: multi-stage fine-tuning of cross-encoder re-rankers.
# Grid: first-stage ranker x re-ranker backbone x schedule (C, D, C-D, D-C) x seed, ending in
# results/tables/main.csv. See README.md.
from snakemake.utils import min_version

min_version("9.0")


# the demo's config, unless one is given (--configfile replaces it instead of being merged into it)
if not config:

    configfile: "config/config.yaml"



include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/first_stage.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/rerank.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True


rule first_stage:
    """Only the first-stage runs, for every test set and the training queries."""
    input:
        first_stage_runs(),


rule models:
    """Only the fine-tuned models of the grid."""
    input:
        model_targets(),
