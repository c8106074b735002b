from stagewise.logs import to_file

to_file(snakemake.log[0], stdout=True)  # colbert-ai prints its progress
from stagewise.first_stage.colbert import ColbertSettings, freeze_checkpoint  # noqa: E402

freeze_checkpoint(snakemake.output[0], ColbertSettings.from_config(snakemake.params.settings))
