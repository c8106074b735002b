"""Each rule's start-up: a fresh Python process that imports what the rule's script imports, then what the library
functions it calls import before their first useful work (a model to load, an index to open, a run to score).

    python benchmarks/startup.py                      # every rule, 3 processes each, a Markdown table
    python benchmarks/startup.py train rerank -n 5    # some rules
    python benchmarks/startup.py --json out.json      # the numbers and each rule's three heaviest imports

A rule is a script of workflow/scripts; its imports are read from the script itself (its module-level `import` and
`from ... import` statements, so the measurement follows the scripts as they change) and ``BEFORE_WORK`` adds the
imports inside the functions it calls. What is timed: the whole process (interpreter start, the environment the
Makefile sets, every import), median of ``-n``; the heaviest imports come from one more process under
``python -X importtime`` (each package's own import seconds). Numbers depend on the machine and on
its file cache: run it twice and keep the second, on a quiet machine.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"

#: what rerank.load_cross_encoder and backbones.build_backbone run before importing a model class (a no-op on a tree
#: without stagewise.imports, so that a checkout from before it measures as it ran)
_LEAN = (
    "try:\n    from stagewise.imports import skip_generation_extras\nexcept ImportError:\n    pass\n"
    "else:\n    skip_generation_extras()"
)
_MODEL = "from transformers import AutoModelForSequenceClassification, AutoTokenizer"
#: imports a rule's library calls make before their first useful work (read from the functions they call)
BEFORE_WORK = {
    "train": [_MODEL],  # trainer.initial_model, train_stage
    "rerank": [_LEAN, _MODEL],  # rerank.load_cross_encoder
    "backbone": [_LEAN, _MODEL],
    "bm25_index": ["import stagewise.first_stage.java", "from pyserini.index.lucene import LuceneIndexer"],
    "bm25_retrieve": ["import stagewise.first_stage.java", "from pyserini.search.lucene import LuceneSearcher"],
    "colbert_index": ["from colbert import Indexer"],
    "colbert_retrieve": ["from colbert import Searcher"],
    "colbert_encoder": ["from colbert.modeling.hf_colbert import class_factory"],
    "evaluate": ["from ranx import evaluate"],
    "evaluate_rerank": ["from ranx import evaluate"],
}


def script_imports(script: Path) -> list[str]:
    """The module-level import statements of a workflow script, in order."""
    tree = ast.parse(script.read_text())
    return [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]


def probe(rule: str) -> str:
    """The code a start-up process runs for ``rule``."""
    return "\n".join([*script_imports(SCRIPTS / f"{rule}.py"), *BEFORE_WORK.get(rule, [])])


def environment() -> dict:
    """The job environment the Makefile and the profiles give a rule (caches in the project, hub offline)."""
    cache = ROOT / "resources" / "cache"
    return {
        **os.environ,
        "NUMBA_CACHE_DIR": str(cache / "numba"),
        "TORCH_EXTENSIONS_DIR": str(cache / "torch_extensions"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(ROOT / "src"),
    }


def seconds(code: str, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - started


def heaviest(code: str, env: dict, n: int = 4) -> list[tuple[str, float]]:
    """The ``n`` packages whose modules took longest to import (their own seconds, summed over every module of the
    package wherever it was imported from; from -X importtime)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, check=True, capture_output=True, text=True, cwd=ROOT
    ).stderr
    packages = {}
    for line in out.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        if own.strip().isdigit():
            package = name.strip().split(".")[0]
            packages[package] = packages.get(package, 0) + int(own) / 1e6
    return sorted(packages.items(), key=lambda item: -item[1])[:n]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rules", nargs="*", help="rules (script names) to measure; default every script")
    parser.add_argument("-n", "--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the numbers here too")
    args = parser.parse_args(argv)
    rules = args.rules or sorted(p.stem for p in SCRIPTS.glob("*.py"))
    env = environment()
    baseline = statistics.median(seconds("pass", env) for _ in range(args.repeat))
    rows = []
    for rule in rules:
        code = probe(rule)
        times = [seconds(code, env) for _ in range(args.repeat)]
        rows.append(
            {"rule": rule, "median_s": statistics.median(times), "runs_s": times, "heaviest": heaviest(code, env)}
        )
    print(f"Python start-up alone: {baseline:.2f} s (median of {args.repeat})\n")
    print("| rule | start-up s (median) | heaviest imports (own s) |\n|---|---:|---|")
    for row in rows:
        heavy = ", ".join(f"{name} {s:.2f}" for name, s in row["heaviest"])
        print(f"| {row['rule']} | {row['median_s']:.2f} | {heavy} |")
    if args.json:
        args.json.write_text(json.dumps({"python_s": baseline, "rules": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
