from stagewise.data.prepare import download_checkpoint
from stagewise.logs import to_file

to_file(snakemake.log[0])
download_checkpoint(snakemake.wildcards.hub_id, snakemake.output[0])
