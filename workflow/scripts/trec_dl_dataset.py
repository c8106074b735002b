from stagewise.data.trec_dl import prepare_trec_dl
from stagewise.logs import to_file

to_file(snakemake.log[0])
prepare_trec_dl(snakemake.params.source, snakemake.params.folder, snakemake.params.depth)
