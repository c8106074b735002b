"""The config a workflow run uses, settled from what Snakemake read (plain values in: the library never imports
Snakemake). The demo's config/config.yaml is the default: --configfile files and --config values merge over it, as
Snakemake documents, and a config that says ``standalone: true`` (config/paper.yaml, config/trecdl.yaml) replaces it
instead, so that a real grid inherits none of the demo's keys."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from .config import check_config_files, replaces_default, typed_command_line_values, validate_config


def settle_workflow_config(config: dict, config_files, given: dict, command_line: dict) -> dict:
    """Make ``config`` (Snakemake's, the default merged with what was given, changed in place) the config the
    workflow runs with, and return it:

    1. every file of ``config_files`` is checked: a key given twice (YAML would keep the last silently) or a file
       that is not YAML stops the run, naming file and line (``check_config_files``);
    2. ``given`` (the --configfile files and --config values merged, as Snakemake read them) replaces the default
       when it says ``standalone: true`` (``replaces_default``);
    3. the --config values (``command_line``) apply on top with the types a config file gives nested values:
       ``--config 'seeds=[1]'`` arrives as ``['1']`` (``typed_command_line_values``);
    4. ``teachers`` given without ``teacher`` replaces the default's ``teacher`` (a config merged over the demo that
       names its teachers distils from those: the two keys together are an error, see ``validate_config``);
    5. the result is validated against the schema, which fills in every default (``validate_config``).
    """
    check_config_files(config_files)
    if replaces_default(given):
        config.clear()
        config.update(copy.deepcopy(given))
    elif "teachers" in given and "teacher" not in given:
        config.pop("teacher", None)
    _merge(config, typed_command_line_values(command_line))
    return validate_config(config)


def _merge(config: dict, overrides: Mapping) -> dict:
    """``overrides`` merged into ``config`` in place, mapping by mapping (Snakemake's rule for --config)."""
    for key, value in overrides.items():
        if isinstance(value, Mapping):
            base = config.get(key)
            config[key] = _merge(base if isinstance(base, dict) else {}, value)
        else:
            config[key] = value
    return config
