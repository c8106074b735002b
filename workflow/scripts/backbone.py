from stagewise.backbones import build_backbone
from stagewise.data import datasets
from stagewise.logs import to_file

to_file(snakemake.log[0])
spec = snakemake.params.spec
texts = None if spec.get("pretrained") else (text for _, text in datasets.iter_docs(snakemake.params.corpus))
build_backbone(spec, snakemake.output[0], texts, seed=spec.get("seed", 0), threads=snakemake.threads)
