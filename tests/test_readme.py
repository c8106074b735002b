"""The README and the docs/ pages it links say what works.

Their commands work as pasted, in order, on a fresh clone after the README's first two (make demo, make test): every
`snakemake` line of their bash blocks plans (a dry run) in a copy of the checkout, and so does every submission of the
batch controller (`sbatch workflow/profiles/slurm/controller.sbatch <arguments>`, through the script's own dry run,
`bash <script> -n <arguments>`). Every repository path, config key and `stagewise.` name they give exists, every
relative link resolves (its anchor too), the README stays at most 200 lines and links every docs/ page, and its code
map names every module of the library under the names the code has now."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SHARED_DATA, copy_checkout, with_venv_path

CONTROLLER = "workflow/profiles/slurm/controller.sbatch"
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
#: the pages whose commands a newcomer pastes: the README and every page of docs/
PAGES = [README, *DOCS]
#: every file whose links, paths and keys are checked: the pages and the READMEs next to configs and environments
DOCUMENTS = [*PAGES, ROOT / "config" / "README.md", ROOT / "envs" / "README.md"]
MAX_README_LINES = 200
#: the README's first code block, a contract with the issue tracker and CI: the two commands, byte for byte
FIRST_BLOCK = """```bash
make demo   # creates .venv, runs the embedded demo (offline, CPU, minutes) -> results/tables/main.csv
make test   # creates .venv, runs the test suite (unit, integration, end-to-end workflow, SLURM)
```
"""


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def code_lines(page: Path = README):
    """(line number, command) of every line of a page's bash blocks, comments removed."""
    lines, inside = [], False
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        if line.startswith("```"):
            inside = line.strip() == "```bash" and not inside
            continue
        if inside and line.split("#")[0].strip():
            lines.append((number, line.split("  #")[0].split(" # ")[0].strip()))
    return lines


def prose(page: Path) -> str:
    """A page without its fenced code blocks (links and spans are read from the prose only)."""
    return re.sub(r"^```.*?^```[ \t]*$", "", page.read_text(), flags=re.M | re.S)


def spans(page: Path) -> list[str]:
    """The inline code spans of a page's prose."""
    return re.findall(r"`([^`\n]+)`", prose(page))


def links(page: Path) -> list[str]:
    """The targets of a page's Markdown links, external ones left out."""
    targets = re.findall(r"\]\(([^)\s]+)\)", prose(page))
    return [t for t in targets if not re.match(r"[a-z]+:", t)]


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation other than - and _ dropped, spaces to -."""
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", prose(page), flags=re.M):
        found.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return found


def test_the_pages_are_the_readme_and_docs():
    assert README.exists() and len(DOCS) >= 5, DOCS


def test_the_readme_starts_with_the_two_commands():
    text = README.read_text()
    assert text[text.index("```") :].startswith(FIRST_BLOCK)


def test_the_readme_is_at_most_200_lines():
    lines = README.read_text().count("\n")  # as wc -l counts them
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail to a page of docs/"


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / target.split("#")[0]).resolve() for target in links(README)}
    assert [relative(page) for page in DOCS if page.resolve() not in linked] == []


def test_every_docs_page_links_back_to_the_readme():
    for page in DOCS:
        assert any(target.split("#")[0] == "../README.md" for target in links(page)), relative(page)


@pytest.mark.parametrize("page", DOCUMENTS, ids=relative)
def test_every_relative_link_resolves(page):
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{relative(page)}: link to {target}: no such file"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file), f"{relative(page)}: link to {target}: no such heading in {file.name}"


#: a span naming a file of the repository: a top-level folder's name, a slash, no placeholders
REPO_PATH = re.compile(r"(?:config|workflow|src|tests|benchmarks|envs|docs|\.ci)/[\w./-]*")


@pytest.mark.parametrize("page", DOCUMENTS, ids=relative)
def test_every_repository_path_named_exists(page):
    named = [s for s in spans(page) if REPO_PATH.fullmatch(s)]
    assert [p for p in named if not (ROOT / p).exists()] == [], relative(page)


def _schema_nodes(node: dict, schema: dict) -> list[dict]:
    """``node`` and every schema it stands for ($ref, allOf/oneOf/anyOf, if-then-else, array items)."""
    if "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    nodes = [node]
    for key in ("allOf", "oneOf", "anyOf"):
        for part in node.get(key, []):
            nodes += _schema_nodes(part, schema)
    for key in ("then", "else", "items"):
        if isinstance(node.get(key), dict):
            nodes += _schema_nodes(node[key], schema)
    return nodes


def _schema_children(node: dict, name: str, schema: dict) -> list[dict]:
    """The schemas of key ``name`` under ``node``; a placeholder (``<stage>``) stands for any key."""
    children = []
    for n in _schema_nodes(node, schema):
        properties = n.get("properties", {})
        if name.startswith("<") or name not in properties:
            if isinstance(n.get("additionalProperties"), dict):
                children.append(n["additionalProperties"])
            if name.startswith("<"):
                children += list(properties.values())
        else:
            children.append(properties[name])
    return children


#: a span naming a config key: dotted, perhaps with a value after a colon (`teacher.malformed: drop`)
CONFIG_KEY = re.compile(r"([a-z_]+(?:\.(?:[\w-]+|<\w+>))+)(?::\s.*)?")
FILE_NAME = re.compile(r".*\.(?:yaml|yml|md|csv|tsv|py|json|txt|run|png|tex|ckpt|jsonl|html|sbatch)")


@pytest.mark.parametrize("page", DOCUMENTS, ids=relative)
def test_every_config_key_named_is_in_the_schema(page):
    from stagewise.schema import load_schema

    schema = load_schema()
    unknown = []
    for span in spans(page):
        match = CONFIG_KEY.fullmatch(span)
        if not match or FILE_NAME.fullmatch(match.group(1)) or match.group(1).split(".")[0] not in schema["properties"]:
            continue
        nodes = [schema]
        for part in match.group(1).split("."):
            nodes = [child for node in nodes for child in _schema_children(node, part, schema)]
        if not nodes:
            unknown.append(span)
    assert unknown == [], relative(page)


def _defines(files: list[Path], name: str) -> bool:
    pattern = re.compile(rf"^\s*(?:def|class) {re.escape(name)}\b|^{re.escape(name)}\b.*=", re.M)
    return any(pattern.search(f.read_text()) for f in files)


def _module_files(dotted: str) -> list[Path]:
    """The source files of a module or package of stagewise (``evaluation.metrics``), or [] when there is none."""
    path = ROOT / "src" / "stagewise" / Path(*dotted.split(".")) if dotted else ROOT / "src" / "stagewise"
    if path.with_suffix(".py").is_file():
        return [path.with_suffix(".py")]
    return sorted(path.rglob("*.py")) if path.is_dir() else []


@pytest.mark.parametrize("page", DOCUMENTS, ids=relative)
def test_every_stagewise_name_exists(page):
    for span in spans(page):
        if not re.fullmatch(r"stagewise(\.\w+)+", span):
            continue
        parts = span.split(".")[1:]
        modules = [i for i in range(len(parts), 0, -1) if _module_files(".".join(parts[:i]))]
        assert modules, f"{relative(page)}: {span}: no such module"
        rest = parts[modules[0] :]
        assert len(rest) <= 1 and (not rest or _defines(_module_files(".".join(parts[: modules[0]])), rest[0])), (
            f"{relative(page)}: {span}: no such name"
        )


def code_map() -> dict[str, list[str]]:
    """The README's code map: module (first column) -> the names its second column gives in code spans."""
    text = README.read_text().split("## Code map", 1)[1]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if not line.startswith("| `") or len(cells) != 2:
            continue
        for module in re.findall(r"`([^`]+)`", cells[0]):
            rows[module] = re.findall(r"`([^`]+)`", cells[1])
    return rows


def test_the_code_map_names_every_module_under_the_names_the_code_has():
    rows = code_map()
    library = ROOT / "src" / "stagewise"
    for module, names in rows.items():
        assert (library / module).exists() or (library / f"{module}.py").exists(), module
        files = _module_files(module) if not module.endswith(".yaml") else []
        for name in names:
            assert _module_files(f"{module}.{name}") or _defines(files, name), f"code map: {module}: {name}"
    for file in library.rglob("*.py"):
        dotted = ".".join(file.relative_to(library).with_suffix("").parts)
        if file.name == "__init__.py":
            continue
        package, _, leaf = dotted.rpartition(".")
        assert dotted in rows or (package in rows and leaf in rows[package]), f"code map lacks {dotted}"


@pytest.mark.parametrize(
    "page", [p for p in PAGES if any(c.startswith("snakemake") for _, c in code_lines(p))], ids=relative
)
def test_the_virtualenv_is_activated_before_the_first_snakemake_line(page):
    commands = [c for _, c in code_lines(page)]
    first = next(i for i, c in enumerate(commands) if c.startswith("snakemake"))
    assert "source .venv/bin/activate" in commands[:first], commands[: first + 1]


@pytest.mark.slow
def test_every_snakemake_line_of_the_readme_and_docs_plans(tmp_path):
    checkout = copy_checkout(tmp_path / "clone")
    (checkout / "slurm").symlink_to(os.readlink(ROOT / "slurm"))
    if SHARED_DATA.exists():
        (tmp_path / "shared").symlink_to(SHARED_DATA.parent)  # ../shared/data, as next to a real checkout
    env = with_venv_path()
    planned, controllers, done = set(), set(), set()
    for page in PAGES:
        for number, command in code_lines(page):
            where = f"{relative(page)} line {number}: {command}"
            words = shlex.split(command)
            if command in done:
                continue  # the same command on another page: planned once
            if words[0] in {"sbatch", "bash"} and CONTROLLER in words:
                # the controller's arguments are Snakemake's: its dry run plans them with the SLURM profile
                args = words[words.index(CONTROLLER) + 1 :]
                result = subprocess.run(
                    ["bash", CONTROLLER, *(args if "-n" in args else ["-n", *args])],
                    cwd=checkout,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    env=env,
                )
                assert result.returncode == 0, f"{where}\n{result.stderr[-3000:]}"
                assert re.search(r"^total\s+\d+$", result.stdout, re.M), where
                controllers.add(command)
                done.add(command)
                continue
            if not command.startswith("snakemake"):
                continue
            args = words[1:]
            if "trecdl.yaml" in command and not SHARED_DATA.exists():
                continue  # its inputs are the shared research-only files
            if "--software-deployment-method" in args and not shutil.which("conda"):
                # Snakemake runs `conda info` even for a dry run; no conda here: plan the same command without it
                at = args.index("--software-deployment-method")
                args = args[:at] + args[at + 2 :]
            if "-n" not in args:
                args.insert(0, "-n")
            result = subprocess.run(
                [str(Path(sys.executable).with_name("snakemake")), *args],
                cwd=checkout,
                capture_output=True,
                text=True,
                timeout=300,
                env=env,
            )
            assert result.returncode == 0, f"{where}\n{result.stderr[-3000:]}"
            assert re.search(r"^total\s+\d+$", result.stdout, re.M) or "Nothing to be done" in result.stdout, where
            planned.add(command)
            done.add(command)
    assert len(planned) >= 10 and len(controllers) >= 3, (planned, controllers)
