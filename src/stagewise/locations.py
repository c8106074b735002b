"""Where stagewise keeps what it caches, prepares and builds under ``resources/``, relative to the working directory
(the repository root, where the workflow and the ``stagewise`` command run). The library and the workflow's rules
import these; the workflow's own output paths are patterns in ``workflow/rules/common.smk``."""

from pathlib import Path

RESOURCES = Path("resources")

#: numba's compiled ranx kernels: about 28 s to compile cold, 5 s from here (NUMBA_CACHE_DIR, unless set)
NUMBA_CACHE = RESOURCES / "cache" / "numba"
#: colbert-ai's C++ extensions, JIT-compiled on first use, about 20 s each (TORCH_EXTENSIONS_DIR, unless set)
TORCH_EXTENSIONS_CACHE = RESOURCES / "cache" / "torch_extensions"
#: one marker per corpus file checked in full (per path, size and modification time), so that jobs check it once
VALIDATED_CORPORA = RESOURCES / "cache" / "validated"

#: ir_datasets' home (downloads and docstores) for the workflow's jobs, on the shared file system
IR_DATASETS_HOME = RESOURCES / "ir_datasets"
#: one marker per ir_datasets id, written once it is downloaded and its docstore built (the prepare_dataset rule)
PREPARED_DATASETS = IR_DATASETS_HOME / "prepared"

#: the folders that the workflow's data rules write when the config has the section (workflow/rules/data.smk): the
#: demo's synthetic collection and teacher, the TREC DL folders built from the shared files
SYNTHETIC_DATASET = RESOURCES / "datasets" / "synthetic"
SYNTHETIC_TEACHER = RESOURCES / "teacher" / "synthetic"
TREC_DL_DATASET = RESOURCES / "datasets" / "trecdl"

#: the subfolder of a model folder that holds the checkpoint it did not select (checkpoints/best or checkpoints/last,
#: training.<stage>.select), as a Hugging Face folder of its own
OTHER_CHECKPOINTS = "checkpoints"

#: training checkpoints of the ``stagewise train`` command (the workflow's lie in resources/checkpoints/<model>)
CLI_CHECKPOINTS = RESOURCES / "checkpoints" / "cli"
