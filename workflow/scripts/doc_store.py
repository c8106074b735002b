from stagewise.data.docstore import build_offset_index
from stagewise.logs import to_file

to_file(snakemake.log[0])
build_offset_index(snakemake.input[0], snakemake.output[0])
