"""The package's import structure: no import cycle among its modules, and training stands apart from re-ranking and
reporting (imports found by parsing every module, including the imports inside functions)."""

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "src" / "stagewise"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules) -> set[str]:
    """The package's modules that ``name`` imports (``from . import x`` counts as importing module ``x``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m in modules and m != name}


def _graph():
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_the_import_graph_is_read():
    graph = _graph()
    assert "stagewise.data.docstore" in graph["stagewise.data.texts"]
    assert "stagewise.data.datasets" in graph["stagewise.data.texts"]  # `from . import datasets`
    assert "stagewise.batching" in graph["stagewise.rerank"]


def test_no_module_of_the_package_takes_part_in_an_import_cycle():
    graph = _graph()
    cycles, done = [], set()

    def visit(module, path):
        if module in path:
            cycles.append(path[path.index(module) :] + [module])
            return
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert not cycles, [" -> ".join(c) for c in cycles]


def test_no_training_module_imports_rerank_or_reporting():
    graph = _graph()
    offending = {
        module: sorted(m for m in imported if m == "stagewise.rerank" or m.startswith("stagewise.reporting"))
        for module, imported in graph.items()
        if module.startswith("stagewise.training")
    }
    assert len(offending) >= 10
    assert not any(offending.values()), {k: v for k, v in offending.items() if v}


def test_no_statement_of_the_package_is_a_bare_tuple():
    """``a(), b()`` as a statement builds and drops a tuple: two statements say it."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Tuple)
    ]
    assert not found


def _modules_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running ``code``."""
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))",
        ],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    ).stdout
    return set(out.split())


def test_training_and_reranking_jobs_do_not_import_scikit_learn():
    """transformers would import scikit-learn for assisted generation, which no job runs (stagewise.imports): about a
    second of every training and re-ranking job's start-up; the model classes still import."""
    model = "from transformers import AutoModelForSequenceClassification, ElectraForSequenceClassification"
    training = _modules_after(f"import stagewise.training.trainer\n{model}")
    assert {"lightning", "transformers", "torch"} <= training and "sklearn" not in training
    # stagewise.rerank.load_cross_encoder and backbones.build_backbone set the flag before their model import
    reranking = _modules_after(
        "from stagewise.imports import skip_generation_extras\nassert skip_generation_extras()\n" + model
    )
    assert "transformers" in reranking and "sklearn" not in reranking
    # and the flag is what keeps it out: without it, the same import brings scikit-learn
    assert "sklearn" in _modules_after(model)
