from stagewise.logs import to_file
from stagewise.reporting.model_card import write_model_cards

to_file(snakemake.log[0])
# model_targets() and MODELS list the models in the same order
write_model_cards(dict(zip(map(tuple, snakemake.params.cells), snakemake.input.models, strict=True)),
                  snakemake.input.rerank, snakemake.output[0])
