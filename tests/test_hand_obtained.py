"""Files the user provides (teacher files, an existing training run, run files, local dataset folders, checkpoints):
no rule has one as its output, so Snakemake never deletes one, whatever the profile and the files' dates."""

import copy

import yaml

from stagewise.config import validate_config
from stagewise.hand_obtained import absent_message, hand_obtained_inputs

from .conftest import ROOT

TINY = yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text())
PAPER = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())


# -- which paths are the user's


def test_the_paper_grid_names_four_files_of_the_users_and_the_demo_none():
    paper = {i.key: i for i in hand_obtained_inputs(validate_config(copy.deepcopy(PAPER)))}
    assert set(paper) == {"teacher.candidates", "teacher.permutations", "training.C.negatives_run.path",
                          "reference.file"}
    assert "10952882" in paper["training.C.negatives_run.path"].source
    assert "RankGPT" in paper["teacher.candidates"].source
    # the demo's data and teacher are made by rules of its synthetic section
    assert hand_obtained_inputs(validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))) == []


def test_every_path_a_config_names_is_the_users_unless_a_section_of_it_makes_the_path(tmp_path):
    checkpoint = tmp_path / "colbert-checkpoint"
    checkpoint.mkdir()

    def config(synthetic=True):
        c = {**copy.deepcopy(TINY), "corpus": "local:resources/datasets/synthetic",
             "test_sets": {"test-a": "local:resources/datasets/synthetic/test-a",
                           "ood": {"dataset": "local:downloads/ood/test", "corpus": "local:downloads/ood"}},
             "rankers": {"bm25": {"kind": "bm25"}, "colbert": {"kind": "colbert", "checkpoint": str(checkpoint)},
                         "given": {"kind": "run", "runs": {"test-a": "downloads/a.run", "ood": "downloads/ood.run"}}},
             "reference": {"file": "downloads/reference.tsv"}}
        c["training"]["C"]["negatives_run"] = {"path": "downloads/train.run"}
        c["rerankers"]["minilm"] = {"pretrained": str(checkpoint)}
        if not synthetic:
            del c["synthetic"]
        return validate_config(c)

    found = {(i.key, i.path, i.folder) for i in hand_obtained_inputs(config())}
    assert found == {
        ("test_sets.ood.dataset", "downloads/ood/test/queries.tsv", False),
        ("test_sets.ood.dataset", "downloads/ood/test/qrels.txt", False),
        ("test_sets.ood.corpus", "downloads/ood/docs.tsv", False),
        ("rankers.colbert.checkpoint", str(checkpoint), True),
        ("rankers.given.runs.test-a", "downloads/a.run", False),
        ("rankers.given.runs.ood", "downloads/ood.run", False),
        ("training.C.negatives_run.path", "downloads/train.run", False),
        ("rerankers.minilm.pretrained", str(checkpoint), True),
        ("reference.file", "downloads/reference.tsv", False),
    }
    # without the synthetic section, its folders and the teacher's files are the user's too
    keys = {i.key for i in hand_obtained_inputs(config(synthetic=False))}
    assert {"corpus", "train_queries", "test_sets.test-a", "teacher.candidates", "teacher.permutations"} <= keys


def test_the_message_names_the_key_the_path_where_to_get_it_and_what_else_is_absent():
    items = {i.key: i for i in hand_obtained_inputs(validate_config(copy.deepcopy(PAPER)))}
    run, candidates = items["training.C.negatives_run.path"], items["teacher.candidates"]
    message = absent_message(run, [run, candidates])
    assert message.startswith(f"config key 'training.C.negatives_run.path': input file not found: {run.path}. "
                              "Obtain it from Zenodo record 10952882")
    assert "and place it at this path." in message
    assert message.endswith(f"Also absent: 'teacher.candidates' ({candidates.path}).")
