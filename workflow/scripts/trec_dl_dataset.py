import os

from stagewise.data.trec_dl import prepare_trec_dl
from stagewise.logs import to_file

to_file(snakemake.log[0])
# the shared folder is the config's (its files are this rule's inputs)
prepare_trec_dl(snakemake.config["trec_dl"]["source"], os.path.dirname(snakemake.output.docs), snakemake.params.depth)
