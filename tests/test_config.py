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
        validate_config(config(training__C__negatives_ranker="colbert"))
