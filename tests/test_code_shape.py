"""Rules of the library's shape that review alone lets slip (found by parsing every module of src/stagewise): no
function takes more than 6 parameters, and no code below the config boundary reads a setting with a literal default
(``spec.get("lr", 1e-5)``): the schema is the one place a default lives, and settings travel as typed objects."""

import ast

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "src" / "stagewise"
MAX_PARAMETERS = 6
#: the config boundary: where a config is validated and its defaults filled, then turned into settings objects
BOUNDARY = {"config.py", "settings.py"}
#: names that hold settings or config sections (a dict read from a file we wrote, a JSON record, is none of them)
SETTINGS_NAMES = {
    "config",
    "hparams",
    "settings",
    "spec",
    "section",
    "stage",
    "teacher",
    "testing",
    "ranker",
    "rerank",
    "evaluation",
    "significance",
    "override",
    "given",
    "encoder",
    "reranker",
}


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _parameters(node) -> int:
    a = node.args
    names = [*a.posonlyargs, *a.args, *a.kwonlyargs]
    count = len(names) + bool(a.vararg) + bool(a.kwarg)
    return count - (1 if names and names[0].arg in ("self", "cls") else 0)


def test_no_function_takes_more_than_six_parameters():
    wide = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({_parameters(node)})"
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _parameters(node) > MAX_PARAMETERS
    ]
    assert not wide, wide


def _literal_default_gets(tree):
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and isinstance(node.args[1], ast.Constant)
        ):
            receiver = node.func.value
            name = receiver.id if isinstance(receiver, ast.Name) else getattr(receiver, "attr", None)
            if name in SETTINGS_NAMES:
                yield node


def test_no_setting_is_read_with_a_literal_default_below_the_config_boundary():
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node)}"
        for path in _modules()
        if path.name not in BOUNDARY
        for node in _literal_default_gets(ast.parse(path.read_text()))
    ]
    assert not found, found


@pytest.mark.parametrize(
    "code, caught",
    [
        ("hparams.get('lr', 1e-5)", True),
        ("self.spec.get('seed', 0)", True),
        ("judged.get(docid, 0)", False),
        ("hparams.get('lr')", False),
    ],
)
def test_the_literal_default_rule_catches_what_it_should(code, caught):
    assert bool(list(_literal_default_gets(ast.parse(code)))) == caught


def test_no_tuple_is_a_statement():
    """``a(), b()`` as a statement runs both and reads as one call with a stray comma: two statements say it."""
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Tuple)
    ]
    assert not found, found


def test_the_suites_longest_first_list_names_test_files_that_exist():
    """`make test` hands these out first (tests/conftest.py); a renamed file would silently lose its place."""
    from .conftest import LONGEST_FIRST, ROOT, _rank

    for name in LONGEST_FIRST:
        path = ROOT / name
        assert path.is_dir() or (path.is_file() and path.name.startswith("test_")), name
    assert _rank("tests/slurm/test_controller.py") == 0 == _rank("tests/slurm")
    assert _rank("tests/test_io.py") == len(LONGEST_FIRST)
