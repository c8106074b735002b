"""Typed settings (stagewise.settings): each class is its schema section, defaults come from the schema only, and a
config needs only what differs from them."""

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from stagewise import settings as S
from stagewise.config import validate_config
from stagewise.errors import ConfigError
from stagewise.schema import load_schema

from .conftest import ROOT, copy_checkout, with_venv_path

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

SECTIONS = {
    S.ContrastiveSettings: ("training", "C"),
    S.DistillationSettings: ("training", "D"),
    S.TeacherSettings: ("teacher",),
    S.RerankSettings: ("rerank",),
    S.EvaluationSettings: ("evaluation",),
    S.SignificanceSettings: ("significance",),
}

#: a grid that gives only what differs from the defaults: one schedule, no D section, no teacher, tiny sizes
MINIMAL = {
    "synthetic": {"n_passages": 300, "n_topics": 4, "concepts_per_topic": 8, "splits": {"train": 40, "test": 10}},
    "corpus": "local:resources/datasets/synthetic",
    "train_queries": "local:resources/datasets/synthetic/train",
    "test_sets": {"test": "local:resources/datasets/synthetic/test"},
    "rankers": {"bm25": {"kind": "bm25", "depth": 20}},
    "rerankers": {
        "tiny": {
            "architecture": "electra",
            "vocab_size": 300,
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "max_length": 64,
        }
    },
    "schedules": ["C"],
    "seeds": [1],
    "training": {"C": {"steps": 2, "negatives": 3, "negatives_depth": 20, "max_length": 64}},
    "rerank": {"depth": 20, "max_length": 64},
}


@pytest.mark.parametrize("cls", list(SECTIONS))
def test_each_settings_class_has_exactly_its_schema_sections_keys(cls):
    schema = load_schema()
    node = schema
    for name in SECTIONS[cls]:
        node = node["properties"][name]
    assert cls.SECTION == SECTIONS[cls]
    assert [f.name for f in dataclasses.fields(cls)] == list(node["properties"])


def test_a_teachers_entry_has_the_teacher_sections_keys_and_its_loss():
    entry = load_schema()["properties"]["teachers"]["additionalProperties"]["properties"]
    assert list(entry) == [f.name for f in dataclasses.fields(S.TeacherSettings)] + [S.TEACHER_LOSS]
    assert (
        entry[S.TEACHER_LOSS]["enum"]
        == load_schema()["properties"]["training"]["properties"]["D"]["properties"]["loss"]["enum"]
    )


def test_a_stage_given_in_code_takes_every_other_key_from_the_schema():
    c = S.stage("C", {"steps": 5, "lr": 1.0e-3})
    assert (c.kind, c.loss, c.steps, c.epochs, c.lr, c.queries_per_batch, c.negatives) == (
        "C",
        "lce",
        5,
        None,
        1.0e-3,
        4,
        99,
    )
    d = S.stage("D")
    assert (d.kind, d.loss, d.steps, d.epochs, d.queries_per_batch, d.group_size) == ("D", "ranknet", None, 15, 16, 20)
    assert "epochs" not in c.as_dict() and c.as_dict()["validation_seed"] is None  # a null default is a value
    with pytest.raises(ConfigError, match=r"config key 'training\.C\.lr': -1"):
        S.stage("C", {"lr": -1})
    with pytest.raises(ConfigError, match=r"unknown config key 'training\.D\.stepz'"):
        S.stage("D", {"stepz": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0


def test_what_decides_a_rerun_leaves_out_cosmetic_keys_and_takes_the_teacher_for_d_only():
    config = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    c, d = S.cell_training(config, "C"), S.cell_training(config, "C-D_lr6e-12_steps40")
    assert c.teacher is None and c.determinants["teacher"] is None
    assert d.determinants["teacher"]["candidates"] == config["teacher"]["candidates"]
    assert d.determinants["hparams"]["lr"] == 6.0e-12 and d.determinants["hparams"]["steps"] == 40
    for cosmetic in ("checkpoint_every", "data_workers", "log_every"):
        assert cosmetic not in c.determinants["hparams"]
    assert list(c.determinants["hparams"]) == sorted(c.determinants["hparams"])
    changed = copy.deepcopy(config)
    changed["training"]["C"]["checkpoint_every"] = 7
    changed["teacher"]["source"] = "elsewhere"
    assert S.cell_training(changed, "C").determinants == c.determinants
    assert S.cell_training(changed, "C-D_lr6e-12_steps40").determinants == d.determinants
    changed["training"]["C"]["lr"] = 1.0e-3
    assert S.cell_training(changed, "C").determinants != c.determinants


def test_a_minimal_config_validates_with_the_papers_defaults():
    config = validate_config(copy.deepcopy(MINIMAL))
    assert "D" in config["training"] and "teacher" not in config
    c = S.cell_stage(config, "C")
    assert (c.steps, c.epochs, c.negatives, c.lr, c.loss, c.queries_per_batch) == (2, None, 3, 1.0e-5, "lce", 4)
    assert S.RerankSettings.from_config(config).batch_size == 64
    with pytest.raises(ConfigError, match="missing required config key 'teacher'"):
        validate_config({**copy.deepcopy(MINIMAL), "schedules": ["C", "C-D"]})


@pytest.mark.slow
def test_a_minimal_config_runs_the_workflow_to_its_table(tmp_path):
    copy_checkout(tmp_path, ("workflow", "envs"))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(MINIMAL))
    result = subprocess.run(
        [SNAKEMAKE, "--cores", "2", "results/tables/main.csv"],
        cwd=tmp_path,
        env=with_venv_path(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    table = pd.read_csv(tmp_path / "results" / "tables" / "main.csv", keep_default_na=False)
    assert set(table["schedule"]) == {"C", "-"} and set(table["reranker"]) == {"tiny", "-"}
    hparams = json.loads((tmp_path / "results" / "models" / "tiny" / "C" / "seed1" / "hparams.json").read_text())
    assert (hparams["steps"], hparams["lr"], hparams["loss"], hparams["queries_per_batch"]) == (2, 1.0e-5, "lce", 4)


def _demo_config(**teacher):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["teacher"] = teacher or config["teacher"]
    return config


def test_a_teacher_gives_ranks_by_default_and_scores_from_a_run_or_triples():
    assert S.TeacherSettings.from_config(validate_config(_demo_config())).labels == "ranks"
    for files in ({"run": "teacher.run"}, {"triples": "bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv"}):
        teacher = S.TeacherSettings.of(labels="scores", **files)
        assert teacher.files() == list(files.values())
    assert S.TeacherSettings.of(run="teacher.run").labels == "ranks"  # a run's order, as before


@pytest.mark.parametrize(
    "given, message",
    [
        (
            {"labels": "scores", "candidates": "c.jsonl", "permutations": "p.json"},
            r"'teacher\.labels': scores come from a run .* RankGPT's permutations give only ranks",
        ),
        ({"triples": "t.tsv"}, r"'teacher\.labels': teacher\.triples gives the teacher's scores; set labels: scores"),
        ({"labels": "scores", "triples": "t.tsv", "run": "t.run"}, r"'teacher\.triples': give triples, a run, or"),
        ({"labels": "scores"}, r"'teacher': give 'run', or both 'candidates' and 'permutations', or 'triples'"),
    ],
)
def test_teacher_keys_that_contradict_each_other_stop_with_the_key(given, message):
    with pytest.raises(ConfigError, match=message):
        S.TeacherSettings.of(**given)
    with pytest.raises(ConfigError, match=message):
        validate_config(_demo_config(**given))


@pytest.mark.parametrize("loss", ["margin_mse", "kl"])
def test_a_loss_on_scores_needs_a_teacher_that_gives_scores(loss):
    ranks = _demo_config()
    ranks["training"]["D"]["loss"] = loss
    with pytest.raises(
        ConfigError,
        match=rf"config key 'training\.D\.loss': {loss} distils the teacher's scores, "
        r"but teacher\.labels is 'ranks'",
    ):
        validate_config(ranks)
    # a stage-2 setting that sets the loss is named as the key
    swept = _demo_config()
    swept["training"]["second_stage"]["C-D"] = [{}, {"loss": loss}]
    with pytest.raises(ConfigError, match=rf"config key 'training\.second_stage\.C-D \(C-D_loss{loss}\)': {loss}"):
        validate_config(swept)
    scores = _demo_config(labels="scores", run="resources/teacher/synthetic/train-scores.run")
    scores["training"]["D"]["loss"] = loss
    config = validate_config(scores)
    assert S.cell_training(config, "D").determinants["teacher"]["labels"] == "scores"
    # ranknet and listnet take ranks or scores
    for other in ("ranknet", "listnet"):
        validate_config({**_demo_config(), "training": {**_demo_config()["training"], "D": {"loss": other}}})
