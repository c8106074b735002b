import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "resources" / "cache" / "numba"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# colbert-ai's C++ extensions compile once per machine (about 20 s each) into this cache, also for the
# workflow tests that run in temporary folders
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(ROOT / "resources" / "cache" / "torch_extensions"))


@pytest.fixture
def tiny_dataset(tmp_path):
    """A small synthetic dataset folder written by the real generator."""
    from stagewise.data.synthetic import SyntheticSpec, write_dataset

    spec = SyntheticSpec(seed=3, n_passages=600, n_topics=4, concepts_per_topic=10,
                         splits={"train": 40, "test": 8})
    return write_dataset(spec, tmp_path / "synthetic")
