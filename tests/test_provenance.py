"""Provenance records: an ir_metadata header that every reader of run files skips, provenance.json of model folders
and tables, what a record holds, and `stagewise provenance`."""

import gzip
import json
import re
import subprocess
from importlib import metadata

import pandas as pd
import pytest
import yaml

from stagewise import provenance
from stagewise.cli import main
from stagewise.data.candidates import Candidates, build_candidates
from stagewise.errors import InputFormatError
from stagewise.io import header_lines, read_run, read_run_by_rank, run_lines, without_header, write_run
from stagewise.reporting.table import write_csv, write_text

from .conftest import tiny_bert_cross_encoder

RUN = {"q1": {"d1": 2.0, "d2": 0.5, "d3": 0.5, "d#4": -1.0}, "q2": {"d9": 3.25, "d1": 1.0}}


@pytest.fixture(autouse=True)
def no_job():
    """Each test starts without a job context (set_job), and leaves none."""
    provenance.set_job()
    yield
    provenance.set_job()


def test_a_run_with_a_header_reads_back_identically_by_every_reader(tmp_path):
    record = provenance.record(tag="electra-C-seed1", seed=1, dataset="test")
    assert record["data"] == {"test collection": {"name": "test"}} and record["method"]["seed"] == 1
    write_run(RUN, tmp_path / "plain.run", tag="electra-C-seed1")
    write_run(RUN, tmp_path / "headed.run", tag="electra-C-seed1", header=record)
    headed, plain = tmp_path / "headed.run", tmp_path / "plain.run"
    text = headed.read_text()
    assert text.startswith("# ir_metadata.start\n") and "\n# ir_metadata.end\n" in text
    header = text[: text.index("# ir_metadata.end\n")].splitlines()
    assert all(line.startswith("#") for line in header)
    # the run's lines are byte for byte those of the run without a header: no number changes
    assert without_header(headed) == plain.read_text()
    assert text.endswith(plain.read_text())
    assert read_run(headed) == read_run(plain) == RUN
    assert read_run_by_rank(headed, 2) == read_run_by_rank(plain, 2)
    assert [line[1:] for line in run_lines(headed)] == [line[1:] for line in run_lines(plain)]
    # the line numbers of errors stay those of the file
    assert next(run_lines(headed))[0] == len(header) + 2
    qrels = {"q1": {"d1": 2}, "q2": {"d9": 1}}
    build_candidates(headed, qrels, tmp_path / "a", depth=3)
    build_candidates(plain, qrels, tmp_path / "b", depth=3)
    a, b = Candidates.open(tmp_path / "a"), Candidates.open(tmp_path / "b")
    assert [a.pool(i) for i in range(len(a))] == [b.pool(i) for i in range(len(b))]
    # the header reads back as the record it was written from
    assert provenance.read(headed) == record


def test_a_gzip_compressed_run_and_repro_evals_header_layout_are_read(tmp_path):
    record = provenance.record(tag="bm25")
    lines = header_lines(record)
    with gzip.open(tmp_path / "run.gz", "wt") as f:
        f.write("\n".join(lines) + "\nq1 Q0 d1 1 1.0 bm25\n")
    assert provenance.read(tmp_path / "run.gz") == record
    assert read_run(tmp_path / "run.gz") == {"q1": {"d1": 1.0}}
    # repro_eval writes '# ' + line + ' ': a space more at every line's end
    given = "# ir_metadata.start\n# tag: splade \n# platform: \n#   hardware: {gpu: A100} \n# ir_metadata.end\n"
    (tmp_path / "theirs.run").write_text(given + "q1 Q0 d1 1 1.0 splade\n")
    assert provenance.read(tmp_path / "theirs.run") == {"tag": "splade", "platform": {"hardware": {"gpu": "A100"}}}
    (tmp_path / "open.run").write_text("# ir_metadata.start\n# tag: x\nq1 Q0 d1 1 1.0 x\n")
    with pytest.raises(InputFormatError, match=r"open\.run:3: .*not a '#' line"):
        provenance.read(tmp_path / "open.run")


def test_a_record_names_the_versions_the_code_the_machine_and_the_context(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4240")
    provenance.set_job({"seeds": [1, 2]}, "rerank", {"ranker": "bm25", "reranker": "electra", "seed": "1"})
    record = provenance.record(tag="t", model_fingerprint="abc", queries="local:x")
    libraries = record["platform"]["software"]["libraries"]["python"]
    assert set(provenance.PACKAGES) <= set(libraries) and libraries["stagewise"]
    assert libraries["torch"] == metadata.version("torch") and libraries["ranx"] == metadata.version("ranx")
    assert record["schema-version"] == "0.1" and record["tag"] == "t"
    assert record["platform"]["hardware"]["cpu"]["number of cores"] >= 1
    assert record["job"]["slurm_job_id"] == "4242" and record["job"]["slurm_array_job_id"] == "4240"
    method = record["method"]
    assert method["config_hash"] == provenance.config_hash({"seeds": [1, 2]}) and method["rule"] == "rerank"
    assert (method["ranker"], method["reranker"], method["seed"], method["model_fingerprint"]) == (
        "bm25",
        "electra",
        "1",
        "abc",
    )
    assert record["data"] == {"test collection": {"queries": "local:x"}}
    source = record["implementation"]["source"]
    assert source["version"] == libraries["stagewise"]
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]) and isinstance(source["dirty"], bool)
    monkeypatch.delenv("SLURM_JOB_ID")
    assert "slurm_job_id" not in provenance.record()["job"]
    json.dumps(record)  # JSON as it is


def test_a_package_that_is_not_installed_is_null(monkeypatch):
    monkeypatch.setattr(provenance, "PACKAGES", ("torch", "no-such-package-here"))
    provenance.versions.cache_clear()
    try:
        assert provenance.versions()["no-such-package-here"] is None
    finally:
        provenance.versions.cache_clear()


def test_the_config_hash_is_canonical():
    a = {"seeds": [1, 2], "training": {"C": {"lr": 1.0e-5, "steps": 10}}}
    b = {"training": {"C": {"steps": 10, "lr": 1.0e-5}}, "seeds": [1, 2]}
    assert provenance.config_hash(a) == provenance.config_hash(b)
    assert provenance.config_hash(a) != provenance.config_hash({**a, "seeds": [1]})


def _git(folder, *args):
    subprocess.run(
        ["git", "-C", str(folder), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "PATH": "/usr/bin:/bin",
        },
    )


def test_the_commit_and_dirty_flag_of_the_source_tree_and_no_repository(tmp_path, monkeypatch):
    package = tmp_path / "repo" / "src" / "stagewise"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.setattr(provenance, "__file__", str(package / "provenance.py"))
    assert provenance.source()["commit"] is None and "not a git checkout" in provenance.source()["git"]
    _git(tmp_path / "repo", "init", "-q")
    assert "not tracked" in provenance.source()["git"]  # a package inside someone else's repository
    _git(tmp_path / "repo", "add", ".")
    _git(tmp_path / "repo", "commit", "-q", "-m", "one")
    clean = provenance.source()
    assert re.fullmatch(r"[0-9a-f]{40}", clean["commit"]) and clean["dirty"] is False
    (package / "untracked.py").write_text("")
    assert provenance.source()["dirty"] is False  # untracked files do not count
    (package / "__init__.py").write_text("x = 1\n")
    assert provenance.source() == {**clean, "dirty": True}
    monkeypatch.setattr(provenance.shutil, "which", lambda name: None)
    assert provenance.source()["git"] == "git is not installed" and provenance.source()["commit"] is None


def test_tables_get_one_entry_each_in_their_folders_provenance_json(tmp_path):
    provenance.set_job({"a": 1}, "main_table")
    write_csv(pd.DataFrame({"x": [1.0]}), tmp_path / "main.csv")
    write_text("| x |\n", tmp_path / "main.md")
    assert (tmp_path / "main.csv").read_text() == "x\n1.0000\n"  # the table itself is untouched
    folder = provenance.read(tmp_path)
    assert sorted(folder["files"]) == ["main.csv", "main.md"]
    table = provenance.read(tmp_path / "main.csv")
    assert table["method"]["rule"] == "main_table" and table["method"]["config_hash"] == provenance.config_hash(
        {"a": 1}
    )
    (tmp_path / "main.md").unlink()
    write_csv(pd.DataFrame({"y": [2.0]}), tmp_path / "other.csv")
    assert sorted(provenance.read(tmp_path)["files"]) == ["main.csv", "other.csv"]  # a removed table's entry goes


def test_a_file_in_a_model_folder_has_the_folders_record_and_the_fingerprint_leaves_it_out(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    fingerprint = provenance.model_fingerprint(tmp_path / "model")
    provenance.write_json(tmp_path / "model", provenance.record(model_fingerprint=fingerprint))
    assert provenance.model_fingerprint(tmp_path / "model") == fingerprint
    assert provenance.read(tmp_path / "model" / "config.json")["method"]["model_fingerprint"] == fingerprint
    assert provenance.model_fingerprint("org/a-hub-id") is None


def test_the_command_prints_the_record_of_a_run_file_and_a_model_folder(tmp_path, capsys):
    record = provenance.record(tag="bm25", seed=1)
    write_run(RUN, tmp_path / "a.run", tag="bm25", header=record)
    main(["provenance", str(tmp_path / "a.run")])
    assert yaml.safe_load(capsys.readouterr().out) == record
    (tmp_path / "model").mkdir()
    provenance.write_json(tmp_path / "model", provenance.record(model_fingerprint="f00"))
    main(["provenance", "--json", str(tmp_path / "model")])
    assert json.loads(capsys.readouterr().out)["method"]["model_fingerprint"] == "f00"


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("plain.run", lambda p: write_run(RUN, p / "plain.run"), "plain.run: carries no provenance record"),
        ("empty", lambda p: (p / "empty").mkdir(), "empty: has no provenance.json"),
        ("missing", lambda p: None, "missing: file not found"),
    ],
)
def test_a_file_without_a_record_ends_in_one_line_and_exit_2(tmp_path, capsys, name, make, message):
    make(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["provenance", str(tmp_path / name)])
    errors = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(errors) == 1 and message in errors[0], errors


def test_a_re_ranked_run_names_its_model_its_first_stage_run_and_the_job(tmp_path, tiny_dataset):
    from stagewise.data import datasets
    from stagewise.data.texts import Corpus
    from stagewise.rerank import RerankJob, rerank_files
    from stagewise.settings import RerankSettings

    model, tokenizer = tiny_bert_cross_encoder(layers=1)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    queries = f"local:{tiny_dataset / 'test'}"
    docids = [d for d, _ in datasets.iter_docs(f"local:{tiny_dataset}")][:5]
    write_run(
        {q: {d: float(-i) for i, d in enumerate(docids)} for q in datasets.queries(queries)},
        tmp_path / "bm25.run",
        tag="bm25",
        header=provenance.record(tag="bm25"),
    )
    provenance.set_job({"seeds": [1]}, "rerank", {"ranker": "bm25", "reranker": "bert", "schedule": "C", "seed": "1"})
    rerank_files(
        tmp_path / "model",
        [RerankJob(str(tmp_path / "bm25.run"), queries, str(tmp_path / "out.run"))],
        Corpus(f"local:{tiny_dataset}"),
        RerankSettings.of(depth=5, max_length=32),
        tag="bert-C-seed1",
    )
    record = provenance.read(tmp_path / "out.run")
    method = record["method"]
    assert record["tag"] == "bert-C-seed1" and method["reranks"] == str(tmp_path / "bm25.run")
    assert method["model_fingerprint"] == provenance.model_fingerprint(tmp_path / "model")
    assert method["device"] == "cpu" and method["rerank"]["depth"] == 5 and method["rule"] == "rerank"
    assert method["config_hash"] == provenance.config_hash({"seeds": [1]}) and method["seed"] == "1"
    assert record["data"] == {"test collection": {"queries": queries}}
    assert sorted(read_run(tmp_path / "out.run")) == sorted(datasets.queries(queries))
