import os

from stagewise.data.synthetic import spec_from_config, write_dataset
from stagewise.logs import to_file

to_file(snakemake.log[0])
# the dataset folder is the one holding docs.tsv (a function param would count as code in Snakemake's rerun checks)
write_dataset(spec_from_config(snakemake.params.spec), os.path.dirname(snakemake.output.docs))
