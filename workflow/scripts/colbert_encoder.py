from stagewise.logs import to_file

to_file(snakemake.log[0], stdout=True)  # colbert-ai prints its progress
from stagewise.first_stage.colbert import freeze_checkpoint  # noqa: E402

s = snakemake.params.settings
freeze_checkpoint(snakemake.output[0], **snakemake.params.encoder, doc_maxlen=s["doc_maxlen"],
                  query_maxlen=s["query_maxlen"])
