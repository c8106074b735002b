"""Fine-tuning: losses, training-group sampling and batching, the Lightning module, the training entry point
(trainer) and its parts: loaders, callbacks, resume, from_files (groups from files) and export (the model folder)."""

from ..imports import skip_generation_extras

skip_generation_extras()  # before Lightning: torchmetrics imports transformers, which would import scikit-learn
