import copy

import pytest
import yaml

from stagewise.config import validate_config
from stagewise.errors import ConfigError

from .conftest import ROOT

DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def config(**changes):
    c = copy.deepcopy(DEMO)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = c
        for p in parents:
            node = node[p]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return c


def test_demo_config_is_valid_and_defaults_are_filled():
    c = validate_config(config())
    assert c["training"]["C"]["gradient_clip_val"] == 10.0
    assert c["evaluation"]["relevance_threshold"] == 2


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"'training\.C\.lr': '1e-5' is not of type 'number'"):
        validate_config(config(training__C__lr="1e-5"))


def test_unknown_key_names_the_key():
    with pytest.raises(ConfigError, match=r"unknown config key 'training\.D\.stepz'"):
        validate_config(config(training__D__stepz=3))


def test_missing_required_key_names_the_key():
    with pytest.raises(ConfigError, match=r"missing required config key 'training\.C\.negatives'"):
        validate_config(config(training__C__negatives=KeyError))


def test_unknown_schedule_is_rejected():
    with pytest.raises(ConfigError, match=r"'schedules\.1'"):
        validate_config(config(schedules=["C", "C-C"]))


def test_negatives_ranker_must_exist():
    with pytest.raises(ConfigError, match="negatives_ranker"):
        validate_config(config(training__C__negatives_ranker="splade"))


def test_ranker_kinds_fill_their_own_defaults():
    c = validate_config(config())
    assert c["rankers"]["bm25"]["k1"] == 0.9 and "nbits" not in c["rankers"]["bm25"]
    assert c["rankers"]["colbert"]["query_maxlen"] == 32 and "k1" not in c["rankers"]["colbert"]


def test_a_key_of_another_ranker_kind_is_rejected():
    with pytest.raises(ConfigError, match=r"unknown config key 'rankers\.bm25\.nbits'"):
        validate_config(config(rankers__bm25__nbits=2))


def test_a_ranker_needs_a_kind():
    with pytest.raises(ConfigError, match=r"missing required config key 'rankers\.bm25\.kind'"):
        validate_config(config(rankers__bm25__kind=KeyError))


def test_colbert_takes_a_checkpoint_or_an_encoder_not_both():
    with pytest.raises(ConfigError, match=r"'rankers\.colbert': give either 'checkpoint' or 'encoder'"):
        validate_config(config(rankers__colbert__checkpoint="colbert-ir/colbertv2.0"))


def test_a_run_ranker_must_cover_every_test_set():
    runs = {"kind": "run", "runs": {"train": "splade/train.run"}}
    with pytest.raises(ConfigError, match=r"'rankers\.splade\.runs' has no run for the test sets \['test'\]"):
        validate_config(config(rankers__splade=runs))


def test_a_run_ranker_used_for_negatives_needs_a_training_run():
    runs = {"kind": "run", "runs": {"test": "test.run"}}
    with pytest.raises(ConfigError, match=r"needs a 'train' run: training\.C\.negatives_ranker"):
        validate_config(config(rankers__splade=runs, training__C__negatives_ranker="splade"))


def test_report_metrics_must_be_evaluated():
    with pytest.raises(ConfigError, match=r"'report\.metrics': \['ndcg@20'\] are not in evaluation\.metrics"):
        validate_config(config(report={"metrics": ["ndcg@20"]}))


def test_a_teacher_is_a_run_or_rankgpt_files():
    with pytest.raises(ConfigError, match=r"'teacher': give 'run', or both 'candidates' and 'permutations'"):
        validate_config(config(teacher__permutations=KeyError))
