from stagewise.data.synthetic import spec_from_config, write_dataset
from stagewise.logs import to_file

to_file(snakemake.log[0])
write_dataset(spec_from_config(snakemake.params.spec), snakemake.params.folder)
