from stagewise.backbones import BackboneSettings, build_backbone
from stagewise.data import datasets
from stagewise.logs import to_file

to_file(snakemake.log[0])
settings = BackboneSettings.from_config(snakemake.params.spec)
texts = None if settings.pretrained else (text for _, text in datasets.iter_docs(snakemake.params.corpus))
build_backbone(settings, snakemake.output[0], texts, threads=snakemake.threads)
