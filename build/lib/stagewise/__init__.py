"""stagewise: multi-stage fine-tuning of cross-encoder re-rankers, as a library and a Snakemake workflow."""

__version__ = "0.1.0"
