from stagewise.data.prepare import prepare_dataset
from stagewise.logs import to_file

to_file(snakemake.log[0])
prepare_dataset(snakemake.wildcards.ir_dataset, snakemake.output[0])
