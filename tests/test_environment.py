"""The environment every workflow job inherits: each variable, when it is set, and that a user's value stays."""

import os

from stagewise import locations
from stagewise.data.prepare import PREPARED_ENV
from stagewise.environment import job_environment, set_job_environment


def test_a_grid_reading_ir_datasets_gets_their_home_and_the_prepared_markers_under_resources(tmp_path):
    source = tmp_path / "src"
    (source / "stagewise").mkdir(parents=True)
    env = job_environment(tmp_path, source, ir_datasets=True, environ={})
    assert env == {
        "IR_DATASETS_HOME": str(tmp_path / "resources" / "ir_datasets"),
        PREPARED_ENV: str(tmp_path / locations.PREPARED_DATASETS),
        "PYTHONPATH": str(source),
        "HF_HUB_OFFLINE": "1",
    }


def test_values_the_user_set_stay_and_the_source_tree_goes_first_once(tmp_path):
    source = tmp_path / "src"
    (source / "stagewise").mkdir(parents=True)
    given = {"IR_DATASETS_HOME": "/data/ird", "HF_HUB_OFFLINE": "0", "PYTHONPATH": f"/opt/lib{os.pathsep}{source}"}
    env = job_environment(tmp_path, source, environ=given)
    assert env["IR_DATASETS_HOME"] == "/data/ird" and env["HF_HUB_OFFLINE"] == "0"
    assert env["PYTHONPATH"] == f"{source}{os.pathsep}/opt/lib"  # a job's own snakemake sets it again: no growth
    assert job_environment(tmp_path, source, environ=env)["PYTHONPATH"] == env["PYTHONPATH"]


def test_local_data_and_an_installed_library_set_only_the_hub_offline(tmp_path):
    env = job_environment(tmp_path, tmp_path / "no-src", ir_datasets=False, environ={})
    assert env == {"HF_HUB_OFFLINE": "1"}


def test_setting_it_changes_this_processs_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv(PREPARED_ENV, raising=False)
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "home"))
    env = set_job_environment(tmp_path, None, ir_datasets=True)
    assert os.environ[PREPARED_ENV] == env[PREPARED_ENV] == str(tmp_path / "resources" / "ir_datasets" / "prepared")
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["IR_DATASETS_HOME"] == str(tmp_path / "home")
