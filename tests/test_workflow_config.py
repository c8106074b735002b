"""The config a workflow run settles on, from plain values as Snakemake reads them (the dry runs of
test_config_merge.py check the same through snakemake)."""

import pytest
import yaml

from stagewise.errors import ConfigError
from stagewise.workflow_config import settle_workflow_config

from .conftest import ROOT


def demo():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_given_values_merge_over_the_demo_mapping_by_mapping_with_the_types_of_a_config_file(tmp_path):
    config = demo()
    config.update(seeds=["3"])  # Snakemake merged --config 'seeds=[3]' over the demo, as strings
    config["rerank"]["depth"] = "7"
    given = {"seeds": ["3"], "rerank": {"depth": "7"}}
    settled = settle_workflow_config(config, [ROOT / "config" / "config.yaml"], given, given)
    assert settled is config and config["seeds"] == [3] and config["rerank"]["depth"] == 7
    assert config["rerank"]["batch_size"] == demo()["rerank"]["batch_size"] and "synthetic" in config


def test_a_standalone_config_replaces_the_demo_and_command_line_values_still_apply():
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    config = {**demo(), **paper}  # Snakemake's merge: the demo's other keys are still there
    settle_workflow_config(config, [ROOT / "config" / "paper.yaml"], {**paper, "seeds": ["7"]}, {"seeds": ["7"]})
    assert "synthetic" not in config and config["seeds"] == [7] and set(config["rankers"]) == set(paper["rankers"])
    assert config["significance"]["alpha"] == 0.05  # the schema default fills what the paper config leaves out


def test_a_key_given_twice_in_a_config_file_stops_before_anything_else(tmp_path):
    twice = tmp_path / "twice.yaml"
    twice.write_text("seeds: [1]\nseeds: [2]\n")
    with pytest.raises(ConfigError, match=r"twice.yaml:2: config key 'seeds' is given twice"):
        settle_workflow_config(demo(), [twice], {}, {})


def test_an_invalid_result_names_the_key():
    with pytest.raises(ConfigError, match="seeds"):
        settle_workflow_config(demo(), [], {"seeds": "x"}, {"seeds": "x"})


def test_teachers_merged_over_the_demo_replace_its_teacher_and_both_in_one_file_stop():
    teachers = {"ranks": {"run": "a.run"}, "scores": {"run": "b.run", "labels": "scores", "loss": "margin_mse"}}
    config = {**demo(), "teachers": teachers}  # Snakemake's merge keeps the demo's teacher beside them
    settle_workflow_config(config, [], {"teachers": teachers}, {})
    assert "teacher" not in config and set(config["teachers"]) == {"ranks", "scores"}
    given = {"teachers": teachers, "teacher": demo()["teacher"]}
    with pytest.raises(ConfigError, match="teacher.*teachers"):
        settle_workflow_config({**demo(), **given}, [], given, {})
