from stagewise.logs import to_file
from stagewise.reporting.model_card import write_model_cards

to_file(snakemake.log[0])
# params.models: (reranker, cell, seed) -> model folder
write_model_cards(snakemake.params.models, snakemake.input.rerank, snakemake.output[0], snakemake.input.checkpoints)
